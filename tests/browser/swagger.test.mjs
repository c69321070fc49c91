// Browser test of Swagger UI (GET /swagger-ui/) under its Content-Security-Policy, driving
// Debian's Chromium with playwright-core: the page renders the operations list and can try an
// operation out with no CSP violation, and no other page can frame it.
//
//   BASE_URL=http://127.0.0.1:18080 node --test tests/browser/swagger.test.mjs
//
// tests/browser/run.sh starts a server with a fresh database and runs this after the console's test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
const OUT = fileURLToPath(new URL('./out/', import.meta.url));
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser;

before(async () => {
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
});

/** A fresh page that records script errors and CSP violations. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  return { context, page, problems };
}

async function withFailureShot(page, name, fn) {
  try {
    await fn();
  } catch (err) {
    await page.screenshot({ path: `${OUT}failure-${name}.png`, fullPage: true }).catch(() => {});
    throw err;
  }
}

test('Swagger UI renders and tries out operations under its CSP', async () => {
  const { context, page, problems } = await newPage();
  try {
    await withFailureShot(page, 'swagger-ui', async () => {
      const response = await page.goto(`${BASE_URL}/swagger-ui/`);
      const csp = response.headers()['content-security-policy'] || '';
      assert.match(csp, /frame-ancestors 'none'/, `CSP: ${csp}`);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `CSP: ${csp}`);

      // The operations list, built by the bundle from /openapi.json.
      await page.locator('.opblock').first().waitFor();
      const operations = await page.locator('.opblock').count();
      assert.ok(operations >= 10, `only ${operations} operations rendered`);
      assert.ok(await page.locator('.opblock-summary-path', { hasText: '/auth/token' }).count() >= 1);
      assert.ok(await page.locator('button.authorize').isVisible(), 'Authorize button');

      // Try one out: the call goes to this origin (connect-src 'self').
      await page.locator('#operations-ops-healthz .opblock-summary').click();
      await page.locator('#operations-ops-healthz button.try-out__btn').click();
      await page.locator('#operations-ops-healthz button.execute').click();
      const status = page.locator('#operations-ops-healthz .live-responses-table tr.response .response-col_status').first();
      await status.waitFor();
      assert.equal((await status.textContent()).trim(), '200');

      assert.deepEqual(problems, [], 'no script errors and no CSP violations');
    });
  } finally {
    await context.close();
  }
});

test('no other page can frame Swagger UI', async () => {
  const { context, page, problems } = await newPage();
  try {
    await withFailureShot(page, 'swagger-framed', async () => {
      // A page of another origin (about:blank here) that frames the UI.
      await page.setContent(`<iframe id="framed" src="${BASE_URL}/swagger-ui/" width="800" height="600"></iframe>`);
      await page.waitForTimeout(1500);
      const framed = page.frames().find((f) => f !== page.mainFrame());
      const rendered = framed ? await framed.locator('#swagger-ui').count().catch(() => 0) : 0;
      assert.equal(rendered, 0, 'Swagger UI rendered inside a frame');
      assert.ok(problems.some((p) => /frame-ancestors/.test(p)) || !framed || framed.url().startsWith('chrome-error:'),
        `the frame was not refused: ${JSON.stringify({ url: framed?.url(), problems })}`);
    });
  } finally {
    await context.close();
  }
});
