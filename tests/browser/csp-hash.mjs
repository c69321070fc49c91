// Keeps the Content-Security-Policy of assets/admin/index.html in step with its inline script.
//   node tests/browser/csp-hash.mjs           check: exit 1 when the hash is stale
//   node tests/browser/csp-hash.mjs --write   rewrite the hash in place
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PAGE = fileURLToPath(new URL('../../assets/admin/index.html', import.meta.url));

/** The sha256 CSP source of the page's single inline <script>, and the one the policy names. */
export function cspHashes(html) {
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
  if (scripts.length !== 1) throw new Error(`expected exactly one inline <script>, found ${scripts.length}`);
  const body = scripts[0][1].replace(/\r\n?/g, '\n'); // the HTML parser normalises newlines
  const actual = `'sha256-${createHash('sha256').update(body, 'utf8').digest('base64')}'`;
  const m = html.match(/script-src ('sha256-[^']*')/);
  return { actual, declared: m ? m[1] : null };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const html = readFileSync(PAGE, 'utf8');
  const { actual, declared } = cspHashes(html);
  if (process.argv.includes('--write')) {
    if (!declared) throw new Error('no script-src sha256 source in the page');
    writeFileSync(PAGE, html.replace(`script-src ${declared}`, `script-src ${actual}`));
    console.log(`CSP script hash set to ${actual}`);
  } else if (declared !== actual) {
    console.error(`CSP script hash is stale: page declares ${declared}, script hashes to ${actual}.\nRun: node tests/browser/csp-hash.mjs --write`);
    process.exit(1);
  } else {
    console.log(`CSP script hash OK (${actual})`);
  }
}
