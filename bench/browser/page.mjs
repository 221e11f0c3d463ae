// One measurement in the page: wasmlm (the project's dist/ browser entry: the model runs in a Web
// Worker, and `threads` workers more over one shared memory when the page is cross-origin isolated) or
// @wllama/wllama (llama.cpp compiled to wasm; its own workers) on the same GGUF file.
// Both get one warm-up completion (first-run costs, wasm tier-up), then one measured completion of
// nPrompt prompt tokens and nGen generated tokens, greedy, EOS ignored. tok/s as each engine reports it.

/** wasmlm: the same random prompt ids as `wasmlm bench` (BOS + an LCG). */
async function runWasmlm({ model, threads, nPrompt, nGen }) {
  let api;
  // URLs on the bench's server (bench/browser.mjs), not paths TypeScript can resolve (npm run lint)
  // @ts-expect-error
  try { api = await import('/dist/browser.js'); } catch { api = await import('/dist/index.js'); }
  const t0 = performance.now();
  const m = await api.loadModel(model, { threads, contextLength: nPrompt + nGen + 1, cache: false });
  const loadMs = performance.now() - t0;
  const V = m.info.vocabSize;
  let seed = 12345;
  const ids = [m.tokenizer?.special?.bos ?? 1];
  while (ids.length < nPrompt) { seed = (seed * 1103515245 + 12345) >>> 0; ids.push(seed % V); }
  // warm-up on other ids (no shared prefix with the measured prompt, so nothing of it is reused)
  await m.complete(ids.slice(1, 1 + Math.max(8, nPrompt >> 2)).map((x) => (x + 7) % V), { temperature: 0, maxTokens: 4, ignoreEos: true });
  const r = await m.complete(ids, { temperature: 0, maxTokens: nGen, ignoreEos: true });
  const info = { threads: m.info.threads, threadsNote: m.info.threadsNote, kernels: m.info.kernels };
  m.dispose?.();
  return {
    engine: 'wasmlm', prefill_tps: r.timings.prefillTokensPerSecond, decode_tps: (r.tokens.length - 1) / (r.timings.generateMs / 1000),
    load_ms: loadMs, gen_n: r.tokens.length, isolated: self.crossOriginIsolated, ...info,
  };
}

/** wllama: an English prompt sized (by a warm-up that counts its tokens) to nPrompt tokens. */
async function runWllama({ model, threads, nPrompt, nGen }) {
  // @ts-expect-error: a URL on the bench's server
  const { Wllama } = await import('/wllama/index.js');
  const base = 'Once upon a time, in a small village at the edge of a deep green forest, there lived a little girl '
    + 'named Lily. Every morning she walked to the river with her old dog, and together they watched the boats '
    + 'drift slowly past the mill. One day a stranger came down the road carrying a heavy wooden box. ';
  const words = base.repeat(60).trim().split(' ');
  const text = (n) => words.slice(0, Math.max(1, Math.min(words.length, n))).join(' ');
  const w = new Wllama({ default: '/wllama/wasm/wllama.wasm' });
  const t0 = performance.now();
  await w.loadModelFromUrl(new URL(model, location.href).href,
    { n_threads: threads, n_ctx: Math.max(1024, nPrompt + nGen + 64), n_batch: 512, n_gpu_layers: 0, flash_attn: false, useCache: false });
  const loadMs = performance.now() - t0;
  // random-weight vocabularies produce invalid UTF-8 pieces that wllama's JSON layer rejects: bias to " the"
  const complete = (prompt, n) => w.createCompletion({ prompt, max_tokens: n, temperature: 0, ignore_eos: true, cache_prompt: false, logit_bias: { the: 100 } });
  const bos = w.mustAddBosToken() ? 1 : 0;
  const nWords0 = Math.max(4, Math.round(nPrompt / 4));
  const warm = (await complete(text(nWords0), 4)).timings;
  const nWords = Math.floor(nWords0 * (nPrompt - bos) / (warm.prompt_n - bos));
  const t = (await complete(text(nWords), nGen)).timings;
  const info = { isolated: self.crossOriginIsolated, multithread: w.isMultithread(), threads: w.getNumThreads() };
  await w.exit();
  if (t.cache_n !== 0) throw new Error(`wllama reused its prompt cache (cache_n=${t.cache_n})`);
  return { engine: 'wllama', prefill_tps: t.prompt_per_second, decode_tps: t.predicted_per_second, load_ms: loadMs, prompt_n: t.prompt_n, gen_n: t.predicted_n, ...info };
}

export async function run(opts) {
  if (opts.threads > 1 && !self.crossOriginIsolated) throw new Error('threads > 1 needs a cross-origin isolated page (COOP/COEP)');
  return opts.engine === 'wllama' ? runWllama(opts) : runWasmlm(opts);
}
