// A stand-in for an OpenAI-compatible provider, so the console's test can store replies whose text
// it chooses (Markdown, hostile markup) and replies that stay "generating" while it looks at them.
//
//   node tests/browser/mock-llm.mjs <port> <ready-file>
//
// POST .../chat/completions answers according to the last user message of the request:
//   contains "#markdown" -> MARKDOWN_REPLY below
//   contains "#hold"     -> (streamed) writes "Still writing" and then holds the stream open until the
//                           caller goes away or HOLD_MS passes; a non-streamed request waits as long
//   anything else        -> "Answer <n> to: <the question>" (n counts requests, so a regenerated
//                           reply differs from the one it replaces)
// A title request (it sets max_completion_tokens) gets the question back as the title.
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';

const [port, readyFile] = process.argv.slice(2);
const MODEL = 'browser-test-model';
const HOLD_MS = 25_000;

// Everything the console's renderer supports, plus what it must never turn into markup.
const MARKDOWN_REPLY = [
  'Here is **a bold plan** with *some italics* and `inline code`.',
  '',
  '- first bullet',
  '- second bullet with [a safe link](https://example.com/guide)',
  '',
  '1. step one',
  '2. step two',
  '',
  'Raw markup stays text: <img src=x onerror="alert(1)"> and <script>alert(2)</script>.',
  'A [bad link](javascript:alert(3)) is not a link.',
].join('\n');

let answered = 0;

function lastUserText(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i];
    if (m && m.role === 'user') return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  }
  return '';
}

function chunk(delta, finish) {
  return 'data: ' + JSON.stringify({
    id: 'chatcmpl-browser', object: 'chat.completion.chunk', created: 1764000000, model: MODEL,
    choices: [{ index: 0, delta, finish_reason: finish }],
  }) + '\n\n';
}

function completion(content) {
  return JSON.stringify({
    id: 'chatcmpl-browser', object: 'chat.completion', created: 1764000000, model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  });
}

function stream(res, pieces, hold) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(chunk({ role: 'assistant', content: '' }, null));
  for (const p of pieces) res.write(chunk({ content: p }, null));
  const finish = () => {
    if (res.writableEnded || res.destroyed) return;
    res.write(chunk({}, 'stop'));
    res.write('data: ' + JSON.stringify({
      id: 'chatcmpl-browser', object: 'chat.completion.chunk', created: 1764000000, model: MODEL, choices: [],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    }) + '\n\n');
    res.end('data: [DONE]\n\n');
  };
  if (!hold) { finish(); return; }
  const timer = setTimeout(finish, HOLD_MS);
  res.on('close', () => clearTimeout(timer));
}

const server = createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    let body = {};
    try { body = JSON.parse(raw); } catch { body = {}; }
    const question = lastUserText(body);
    if (body.max_completion_tokens !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(completion(question.slice(0, 80)));
      return;
    }
    answered += 1;
    const hold = question.includes('#hold');
    const content = question.includes('#markdown') ? MARKDOWN_REPLY
      : hold ? 'Still writing'
        : `Answer ${answered} to: ${question}`;
    if (body.stream) {
      stream(res, content.match(/[\s\S]{1,24}/g) || [], hold);
    } else if (hold) {
      const timer = setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(completion(content)); }, HOLD_MS);
      res.on('close', () => clearTimeout(timer));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(completion(content));
    }
  });
});

server.listen(Number(port), '127.0.0.1', () => {
  if (readyFile) writeFileSync(readyFile, String(port));
});
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
