// Load figure of `wasmlm serve`: requests per second and time to first token (p50 / p95) for 1, 4 and 16
// concurrent clients, each streaming chat completions with the openai client, for each --parallel.
//
//   npm run build && node bench/load.mjs [MODEL.gguf] [--parallel 1,4] [--clients 1,4,16] [--tokens 16]
//                                        [--requests N] [--threads N] [--json]
//
// MODEL defaults to bench/models/stories110m-q8_0.gguf (the stories110m shape; `npm run bench` fetches it).
// Each client sends its requests one after another (temperature 0, max_tokens --tokens, end-of-text banned
// so every reply has the same length); --requests is the total per row (default: 2 per client, at least 8).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    parallel: { type: 'string', default: '1,4' },
    clients: { type: 'string', default: '1,4,16' },
    tokens: { type: 'string', default: '16' },
    requests: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const list = (s) => s.split(',').map(Number);
const model = positionals[0] ?? `${root}bench/models/stories110m-q8_0.gguf`;
if (!existsSync(model)) {
  console.error(`no model at ${model}: give one (a GGUF of the stories110m shape), or run npm run bench once to fetch it`);
  process.exit(1);
}
const tokens = Number(values.tokens);

/** `wasmlm serve` on a free port; resolves with its origin and a stop function. */
function serve(parallel) {
  const args = ['dist/cli.js', 'serve', model, '--port', '0', '--parallel', String(parallel), '--max-queue', '1000',
    ...(values.threads ? ['--threads', values.threads] : [])];
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /on (http:\/\/[\d.]+:\d+)\/v1/.exec(log);
      if (m) resolve({ origin: m[1], stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGTERM'); }) });
    });
    proc.once('exit', (code) => reject(new Error(`wasmlm serve exited (${code}):\n${log}`)));
  });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** One row: `clients` clients sending `total` requests between them. */
async function row(client, clients, total) {
  const ttft = [];
  let next = 0;
  const one = async (i) => {
    const t0 = performance.now();
    const stream = await client.chat.completions.create({
      model: 'x', messages: [{ role: 'user', content: `Tell me a story about the number ${i}.` }],
      temperature: 0, max_tokens: tokens, logit_bias: { 2: -100 }, stream: true,
    });
    let first = true;
    for await (const c of stream) {
      if (first && c.choices[0]?.delta.content) { ttft.push(performance.now() - t0); first = false; }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => { while (next < total) await one(next++); }));
  const seconds = (performance.now() - t0) / 1000;
  return { requestsPerSecond: total / seconds, tokensPerSecond: (total * tokens) / seconds, ttftP50: quantile(ttft, 0.5), ttftP95: quantile(ttft, 0.95), requests: total };
}

const results = [];
for (const parallel of list(values.parallel)) {
  const server = await serve(parallel);
  const client = new OpenAI({ baseURL: `${server.origin}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 3_600_000 });
  await row(client, 1, 1); // warm-up
  for (const clients of list(values.clients)) {
    const total = values.requests ? Number(values.requests) : Math.max(8, 2 * clients);
    const r = { parallel, clients, ...(await row(client, clients, total)) };
    results.push(r);
    if (!values.json) {
      console.log(`--parallel ${parallel}  ${String(clients).padStart(2)} clients  ${r.requestsPerSecond.toFixed(2)} req/s  ` +
        `${r.tokensPerSecond.toFixed(1)} tok/s  TTFT p50 ${r.ttftP50.toFixed(0)} ms  p95 ${r.ttftP95.toFixed(0)} ms  (${total} requests of ${tokens} tokens)`);
    }
  }
  await server.stop();
}
if (values.json) console.log(JSON.stringify({ model, tokens, results }, null, 2));
