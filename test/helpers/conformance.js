// The public API, checked the same way in every runtime: Node 22 and Deno (test/helpers/run-conformance.mjs),
// Chromium on a page, through the Web Worker proxy and inside a Web Worker (test/runtimes/browser.test.ts),
// and workerd (test/helpers/workerd/). Plain JavaScript with no imports, so that each runtime loads it as it is.
//
// conformance(wasmlm, env) → [{ name, ok, detail }]; wasmlm is the package's module namespace, env says what
// this runtime can give:
//   reference     the llama2.c greedy text for "Once upon a time" (prompt included, no final newline)
//   modelBytes    stories260K.gguf as an ArrayBuffer
//   defaultModel  loadModel() with no source works here (false in workerd: no URL to fetch it from)
//   modelUrl      an http URL serving the model (with content-length)        (optional)
//   modelPath     a file path of the model (Node, Deno)                        (optional)
//   missingUrl    an http URL that answers 404                                 (optional)
//   stallUrl      an http URL that sends part of the model, then nothing more  (optional)
//   loadOptions   options for every loadModel call (workerd: { wasmModule })
//   only          names of the checks to run (default all)
//   session       a session saved elsewhere (test/helpers/sessions.ts): { saved (base64), context, cached, expected }:
//                 restored here, its greedy continuation of `context` must be `expected`     (optional)

const PROMPT = 'Once upon a time';
const GREEDY = { temperature: 0, maxTokens: 196 };

export async function conformance(wasmlm, env) {
  const { loadModel, WasmlmError } = wasmlm;
  const opts = (extra = {}) => ({ ...(env.loadOptions ?? {}), ...extra });
  const results = [];
  const check = async (name, enabled, fn) => {
    if (!enabled || (env.only && !env.only.includes(name))) return;
    try {
      const detail = await fn();
      results.push({ name, ok: true, detail: detail === undefined ? undefined : String(detail) });
    } catch (e) {
      results.push({ name, ok: false, detail: `${e?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}: ${e?.message ?? e}` });
    }
  };
  const expect = (cond, what) => { if (!cond) throw new Error(what); };
  const expectError = async (p, code, mention) => {
    let e;
    try { await p; } catch (x) { e = x; }
    expect(e !== undefined, `expected WasmlmError ${code}, but it succeeded`);
    expect(e instanceof WasmlmError, `expected a WasmlmError, got ${e?.name}: ${e?.message}`);
    expect(e.code === code, `expected code ${code}, got ${e.code}: ${e.message}`);
    if (mention) expect(e.message.includes(mention), `the message "${e.message}" does not mention "${mention}"`);
    return `${e.code}: ${e.message}`;
  };
  const greedy = async (model) => {
    const r = await model.complete(PROMPT, GREEDY);
    expect(PROMPT + r.text === env.reference, `greedy text differs from llama2.c:\n${PROMPT + r.text}`);
    expect(r.finishReason === 'length' && r.tokens.length === 196, `finishReason ${r.finishReason}, ${r.tokens.length} tokens`);
    return r;
  };
  const withModel = async (source, fn, extra) => {
    const model = await loadModel(source, opts(extra));
    try { return await fn(model); } finally { model.dispose(); }
  };
  const bytes = env.modelBytes;

  await check('default model: greedy text as llama2.c', env.defaultModel, () => withModel(undefined, async (m) => {
    await greedy(m);
    return `${m.info.name}, kernels ${m.info.kernels}`;
  }));

  await check('ArrayBuffer', true, () => withModel(bytes.slice(0), greedy).then(() => {}));
  await check('Uint8Array (a view into a larger buffer)', true, () => {
    const big = new Uint8Array(bytes.byteLength + 16);
    big.set(new Uint8Array(bytes), 8);
    return withModel(big.subarray(8, 8 + bytes.byteLength), greedy).then(() => {});
  });
  await check('Blob', true, () => withModel(new Blob([bytes]), greedy).then(() => {}));
  await check('ReadableStream in odd-sized chunks', true, () => {
    let off = 0;
    const src = new Uint8Array(bytes);
    const stream = new ReadableStream({
      pull(c) {
        if (off >= src.length) { c.close(); return; }
        const n = Math.min(7919, src.length - off);
        c.enqueue(src.slice(off, off + n));
        off += n;
      },
    });
    return withModel(stream, greedy).then(() => {});
  });
  await check('URL string, with progress', env.modelUrl !== undefined, async () => {
    const seen = [];
    await withModel(env.modelUrl, greedy, { onProgress: (p) => seen.push(p) });
    const last = seen[seen.length - 1];
    expect(seen.length > 0, 'no progress reported');
    expect(last.total === bytes.byteLength, `progress total ${last.total}, the file has ${bytes.byteLength} bytes`);
    expect(last.loaded <= last.total && last.loaded > bytes.byteLength * 0.9, `last progress ${last.loaded}/${last.total}`);
    return `${seen.length} progress reports`;
  });
  await check('URL object', env.modelUrl !== undefined, () => withModel(new URL(env.modelUrl), greedy).then(() => {}));
  await check('file path', env.modelPath !== undefined, () => withModel(env.modelPath, greedy).then(() => {}));

  // one model for the rest of the API
  let model;
  await check('the API on one model', true, async () => {
    model = await loadModel(bytes.slice(0), opts());
    const info = model.info;
    expect(info.family === 'llama' && info.name === 'stories260K' && info.vocabSize === 512 && info.layers === 5,
      `info: ${JSON.stringify({ family: info.family, name: info.name, vocab: info.vocabSize, layers: info.layers })}`);
    expect(info.threads >= 1 && typeof info.threadsNote === 'string', 'info.threads / threadsNote');
    const ids = model.tokenizer.encode(PROMPT);
    expect(JSON.stringify(ids) === '[1,403,407,261,378]', `encode: ${JSON.stringify(ids)}`);
    expect(model.tokenizer.decode(ids) === PROMPT, `decode: ${model.tokenizer.decode(ids)}`);
    const rows = await model.logits(ids);
    expect(rows.length === 5 && rows.every((r) => r instanceof Float32Array && r.length === 512), 'logits: 5 rows of 512');
    const e = await model.embed(PROMPT, { normalize: true });
    const norm = Math.sqrt(e.reduce((s, x) => s + x * x, 0));
    expect(e instanceof Float32Array && e.length === info.embeddingLength && Math.abs(norm - 1) < 1e-4, `embed: ${e.length} values, norm ${norm}`);
    const chat = await model.chat([{ role: 'user', content: 'Hello' }], { maxTokens: 8, temperature: 0 });
    expect(typeof chat.text === 'string' && chat.tokens.length <= 8, 'chat');
    return `kernels ${info.kernels}; threads ${info.threads} (${info.threadsNote})`;
  });
  await check('chatStream streams what chat returns', model !== undefined, async () => {
    const messages = [{ role: 'user', content: 'Tell me a story' }];
    const pieces = [];
    for await (const p of model.chatStream(messages, { maxTokens: 12, temperature: 0 })) pieces.push(p);
    const r = await model.chat(messages, { maxTokens: 12, temperature: 0 });
    expect(pieces.join('') === r.text, `chatStream "${pieces.join('')}" vs chat "${r.text}"`);
  });
  await check('a LoRA adapter (made here with encodeGGUF): scale, setScale, remove', model !== undefined, async () => {
    const { encodeGGUF, GGUFValueType } = wasmlm;
    const f32 = (n, seed) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = Math.sin(seed * 7.1 + i * 1.3) * 0.5;
      return new Uint8Array(a.buffer);
    };
    const adapterBytes = encodeGGUF([
      { key: 'general.architecture', type: GGUFValueType.STRING, value: 'llama' },
      { key: 'general.type', type: GGUFValueType.STRING, value: 'adapter' },
      { key: 'adapter.type', type: GGUFValueType.STRING, value: 'lora' },
      { key: 'adapter.lora.alpha', type: GGUFValueType.FLOAT32, value: 2 },
    ], [
      { name: 'blk.0.attn_q.weight.lora_a', ne: [64, 2], type: 0, data: f32(128, 1) },
      { name: 'blk.0.attn_q.weight.lora_b', ne: [2, 64], type: 0, data: f32(128, 2) },
      { name: 'blk.0.ffn_up.weight.lora_a', ne: [64, 2], type: 0, data: f32(128, 3) },
      { name: 'blk.0.ffn_up.weight.lora_b', ne: [2, 172], type: 0, data: f32(344, 4) },
    ]);
    const ids = [1, 403, 407, 261, 378];
    const last = async () => Array.from((await model.logits(ids))[4]);
    const base = await last();
    const adapter = await model.loadAdapter(adapterBytes, { scale: 1 });
    expect(adapter.scale === 1, `scale ${adapter.scale}`);
    const withLora = await last();
    const moved = Math.max(...withLora.map((v, i) => Math.abs(v - base[i])));
    expect(moved > 1e-3, `the adapter changed the logits by only ${moved}`);
    adapter.setScale(0);
    const zero = await last();
    expect(zero.every((v, i) => Math.abs(v - base[i]) < 1e-5), 'setScale(0) does not restore the base logits');
    adapter.setScale(1);
    expect(adapter.scale === 1, 'scale after setScale');
    adapter.remove();
    const removed = await last();
    expect(removed.every((v, i) => Math.abs(v - base[i]) < 1e-5), 'remove() does not restore the base logits');
    return `max |Δlogit| with the adapter: ${moved.toFixed(3)}`;
  });
  await check('generate streams the text complete() returns', model !== undefined, async () => {
    const pieces = [];
    const it = model.generate(PROMPT, GREEDY);
    let step;
    while (!(step = await it.next()).done) pieces.push(step.value);
    expect(PROMPT + pieces.join('') === env.reference, 'streamed text differs from the reference');
    expect(step.value.text === pieces.join(''), 'the generator’s return value differs from the pieces');
    expect(pieces.length > 20, `${pieces.length} pieces`);
    return `${pieces.length} pieces`;
  });
  await check('an AbortSignal stops generate mid-way', model !== undefined, async () => {
    const ac = new AbortController();
    let n = 0;
    const it = model.generate(PROMPT, { temperature: 0, maxTokens: 400, ignoreEos: true, signal: ac.signal });
    let step;
    while (!(step = await it.next()).done) if (++n === 5) ac.abort();
    expect(step.value.finishReason === 'abort', `finishReason ${step.value.finishReason}`);
    expect(step.value.tokens.length < 400, `${step.value.tokens.length} tokens`);
    return `stopped after ${step.value.tokens.length} tokens`;
  });
  await check('leaving a for-await loop early frees the model for the next call', model !== undefined, async () => {
    let n = 0;
    for await (const _ of model.generate(PROMPT, { temperature: 0, maxTokens: 400, ignoreEos: true })) if (++n === 3) break;
    await greedy(model);
  });
  await check('dispose: later calls throw DISPOSED', model !== undefined, async () => {
    model.dispose();
    return expectError(model.complete(PROMPT, { maxTokens: 1 }), 'DISPOSED');
  });

  await check('error: a Blob that is not GGUF', true, () =>
    expectError(loadModel(new Blob([new TextEncoder().encode('this is not a model, just text '.repeat(10))]), opts()), 'BAD_MAGIC', 'Blob'));
  await check('error: a URL that 404s', env.missingUrl !== undefined, () =>
    expectError(loadModel(env.missingUrl, opts()), 'FETCH_FAILED', '404'));
  await check('error: a download aborted half way', env.stallUrl !== undefined, async () => {
    const ac = new AbortController();
    let loaded = 0;
    const p = loadModel(env.stallUrl, opts({
      signal: ac.signal,
      onProgress: (pr) => { if (loaded === 0 && pr.loaded > 0) setTimeout(() => ac.abort(), 100); loaded = pr.loaded; },
    }));
    const msg = await expectError(p, 'ABORTED');
    expect(loaded > 0 && loaded < bytes.byteLength, `aborted at ${loaded} of ${bytes.byteLength} bytes`);
    return `${msg} (at byte ${loaded})`;
  });
  await check('error: a signal aborted before the load', true, () => {
    const ac = new AbortController();
    ac.abort();
    return expectError(loadModel(bytes.slice(0), opts({ signal: ac.signal })), 'ABORTED');
  });
  // the detail is this runtime's saved session (base64), for the caller to restore elsewhere
  await check(SESSION_CHECK, true, () => withModel(bytes.slice(0), async (m) => {
    const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
    if (env.session) {
      const r = await m.restoreSession(fromBase64(env.session.saved));
      const got = await r.complete(env.session.context, SESSION_CONTINUE);
      expect(same(got.tokens, env.session.expected), `the restored session continued with ${got.tokens}, not ${env.session.expected}`);
      expect(got.timings.cachedTokens === env.session.cached, `${got.timings.cachedTokens} tokens reused, not ${env.session.cached}`);
      r.dispose();
    }
    const s = m.createSession();
    const first = await s.complete(PROMPT, SESSION_FIRST);
    const saved = await s.save();
    const context = [...m.tokenizer.encode(PROMPT, { addSpecial: true }), ...first.tokens];
    const expected = await s.complete(context, SESSION_CONTINUE);
    const r = await m.restoreSession(saved);
    const got = await r.complete(context, SESSION_CONTINUE);
    expect(same(got.tokens, expected.tokens), 'a session restored in this runtime continued differently');
    await expectError(m.restoreSession(saved.subarray(0, saved.length - 1)), 'BAD_SESSION');
    s.dispose();
    r.dispose();
    return toBase64(saved);
  }));
  return results;
}

/** The session check: its name, what it generates before saving and after restoring. */
export const SESSION_CHECK = 'session: save, restore, continue';
export const SESSION_FIRST = { temperature: 0, maxTokens: 20 };
export const SESSION_CONTINUE = { temperature: 0, maxTokens: 30, ignoreEos: true };

export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
