/**
 * API misuse: wrong argument types and values on every public function and method, and call
 * sequences (interleaved generators, an abandoned iterator, dispose during / after a call).
 * Each case makes a fresh model (llama.gguf, a few ms) when it needs one.
 *
 * Accepted but wrong: an option value that cannot be right accepted (maxTokens -1, topP 2,
 * repeatPenalty 0, seed 1.5, ...), ids outside the vocabulary, threads beyond the machine's
 * cores, and a promise that never settles while the process idles (a deadlock: the case gives
 * it DEADLOCK_MS, then reports it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { checkIds } from './gguf.mjs';

const DEADLOCK_MS = 5000;
const aborted = () => { const c = new AbortController(); c.abort(); return c.signal; };
/** [description, make()] */
const VALUES = [
  ['undefined', () => undefined], ['null', () => null], ['NaN', () => NaN], ['Infinity', () => Infinity], ['-1', () => -1], ['0', () => 0],
  ['1.5', () => 1.5], ['-0', () => -0], ['2**53', () => 2 ** 53], ['""', () => ''], ['"x"', () => 'x'], ['"3"', () => '3'], ['{}', () => ({})],
  ['[]', () => []], ['[NaN]', () => [NaN]], ['[1e9]', () => [1e9]], ['[-1]', () => [-1]], ['[1.5]', () => [1.5]], ['["1"]', () => ['1']],
  ['Symbol()', () => Symbol('s')], ['() => {}', () => () => {}], ['1n', () => 1n], ['true', () => true], ['new Date()', () => new Date(0)],
  ['Int32Array [1,2]', () => new Int32Array([1, 2])], ['Array(300).fill(1)', () => Array(300).fill(1)], ['sparse [,1]', () => [, 1]], // eslint-disable-line no-sparse-arrays
  ['{length: 1e9}', () => ({ length: 1e9 })], ['aborted signal', aborted], ['"a".repeat(1e6)', () => 'a'.repeat(1e6)],
];
/** options that must be rejected when given these values: name -> values (by description) */
const INVALID = {
  maxTokens: ['-1', '1.5', 'NaN', '"3"', '"x"', 'Symbol()', '{}'],
  temperature: ['-1', 'NaN', '"x"', '"3"', 'Symbol()', '{}'],
  topK: ['-1', '1.5', 'NaN', '"3"', 'Symbol()'],
  topP: ['-1', 'NaN', '"3"', 'Symbol()'],
  minP: ['-1', 'NaN', '"3"', 'Symbol()'],
  repeatPenalty: ['0', '-1', 'NaN', '-0', '"3"', 'Symbol()'],
  repeatLastN: ['-1', '1.5', 'NaN', '"3"', 'Symbol()'],
  seed: ['1.5', 'NaN', '"3"', 'Symbol()', '"x"'], // any safe integer is a seed, negative ones too
  stop: ['"x"', '[1e9]', '[NaN]', '{}', '[-1]', '[1.5]', '["1"]'.replace('"1"', '"1"') && '0'],
  ignoreEos: ['"x"', '0', '{}'],
  signal: ['"x"', '{}', '0'],
};
const GEN_OPTS = Object.keys(INVALID);

const TARGETS = [
  [3, 'loadModel(source)'], [2, 'loadModel(bytes, options)'], [5, 'complete(prompt, options)'], [2, 'complete(badPrompt)'], [1, 'generate'], [1, 'chat'],
  [1, 'logits'], [1, 'embed'], [1, 'loadAdapter'], [4, 'tokenizer'], [1, 'loadTokenizer'], [1, 'readGGUF'], [1, 'renderChat'], [1, 'quantize'], [1, 'segment'],
  [2, 'sequence'],
];
const SEQUENCES = ['interleave', 'abandon', 'dispose-during', 'double-dispose', 'after-dispose', 'dispose-then-tokenizer', 'return-then-complete', 'concurrent-complete'];

export const api = {
  name: 'api',
  about: 'wrong argument types / values on every public method, and call sequences',

  generate(rng) {
    const target = rng.weighted(TARGETS);
    const v = rng.pick(VALUES);
    const w = rng.pick(VALUES);
    const opt = rng.pick(GEN_OPTS);
    const seq = rng.pick(SEQUENCES);
    const method = rng.pick(['encode', 'decode', 'idToPiece', 'idToBytes', 'pieceToId', 'isEog', 'push', 'encodeOpts', 'decodeOpts']);
    const loadOpt = rng.pick(['threads', 'contextLength', 'signal', 'onProgress', 'whole']);
    const desc = {
      'loadModel(source)': `loadModel(${v[0]})`,
      'loadModel(bytes, options)': loadOpt === 'whole' ? `loadModel(llama, ${v[0]})` : `loadModel(llama, { ${loadOpt}: ${loadOpt === 'threads' ? rng.pick(['16', '2**31', v[0]]) : v[0]} })`,
      'complete(prompt, options)': `complete([1, 403], { ${opt}: ${v[0]} })`,
      'complete(badPrompt)': `complete(${v[0]})`,
      generate: `generate(${v[0]}, ${w[0]}).next()`,
      chat: `chat(${v[0]}, { chatTemplate: ${w[0]} })`,
      logits: `logits(${v[0]})`,
      embed: `embed("Hi", { pooling: ${v[0]}, normalize: ${w[0]} })`,
      loadAdapter: `loadAdapter(${v[0]}, { scale: ${w[0]} })`,
      tokenizer: `tokenizer.${method}(${v[0]}${method.endsWith('Opts') ? `, ${w[0]}` : ''})`,
      loadTokenizer: `loadTokenizer(${v[0]}, ${w[0]})`,
      readGGUF: `readGGUF(${v[0]})`,
      renderChat: `renderChat(tokenizer, ${v[0]}, ${w[0]})`,
      quantize: `quantizeTensor(${v[0]}, ${w[0]}) / dequantize(${w[0]}, ${v[0]})`,
      segment: `segmentSentences(${v[0]}) / segmentWords(${v[0]})`,
      sequence: `sequence ${seq}`,
    }[target];
    return { desc, input: { target, v, w, opt, seq, method, loadOpt, threads: desc.match(/threads: (16|2\*\*31)/)?.[1] } };
  },

  async run(input, ctx) {
    const { pkg } = ctx;
    const bytes = ctx.cached('api:llama', () => new Uint8Array(readFileSync(join(ctx.fixtures, 'models', 'llama.gguf'))));
    const lora = ctx.cached('api:lora', () => new Uint8Array(readFileSync(join(ctx.fixtures, 'models', 'llama.lora.gguf'))));
    const v = input.v[1]();
    const w = input.w[1]();
    const wrong = [];
    const fresh = () => pkg.loadModel(bytes.slice());
    const settle = async (p, what) => {
      let timer;
      const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Deadlock(what)), DEADLOCK_MS); });
      try { return await Promise.race([p, t]); } finally { clearTimeout(timer); }
    };
    let m;
    try {
      switch (input.target) {
        case 'loadModel(source)': m = await settle(pkg.loadModel(v), 'loadModel'); break;
        case 'loadModel(bytes, options)': {
          const opts = input.loadOpt === 'whole' ? v : { [input.loadOpt]: input.threads !== undefined ? eval(input.threads) : v }; // eslint-disable-line no-eval
          m = await settle(pkg.loadModel(bytes.slice(), opts), 'loadModel');
          if (m.info.threads > availableParallelism()) wrong.push(`threads ${m.info.threads} on ${availableParallelism()} cores`);
          await settle(m.complete([1, 403], { maxTokens: 2, temperature: 0 }), 'complete');
          break;
        }
        case 'complete(prompt, options)': {
          m = await fresh();
          const r = await settle(m.complete([1, 403], { maxTokens: input.opt === 'maxTokens' ? v : 3, temperature: input.opt === 'temperature' ? v : 0, [input.opt]: v }), 'complete');
          checkIds(r.tokens, m.info.vocabSize, 'tokens', wrong);
          if (INVALID[input.opt].includes(input.v[0])) wrong.push(`${input.opt}: ${input.v[0]} accepted`);
          break;
        }
        case 'complete(badPrompt)': {
          m = await fresh();
          const r = await settle(m.complete(v, { maxTokens: 2 }), 'complete');
          checkIds(r.tokens, m.info.vocabSize, 'tokens', wrong);
          break;
        }
        case 'generate': {
          m = await fresh();
          const it = m.generate(v, w);
          await settle(it.next(), 'generate().next()');
          await settle(it.return(undefined), 'return()');
          break;
        }
        case 'chat': {
          m = await fresh();
          await settle(m.chat(v, { chatTemplate: w, maxTokens: 2 }), 'chat');
          break;
        }
        case 'logits': m = await fresh(); await settle(m.logits(v), 'logits'); break;
        case 'embed': {
          m = await fresh();
          const e = await settle(m.embed('Hi', { pooling: v, normalize: w }), 'embed');
          if (!(e instanceof Float32Array) || e.some((x) => !Number.isFinite(x))) wrong.push('embedding not finite');
          break;
        }
        case 'loadAdapter': {
          m = await fresh();
          const a = await settle(m.loadAdapter(typeof v === 'number' || v === undefined ? lora.slice() : v, { scale: w }), 'loadAdapter');
          a.setScale(w);
          a.remove();
          a.setScale(1);
          break;
        }
        case 'tokenizer': {
          m = await fresh();
          const tk = m.tokenizer;
          const out = {
            encode: () => tk.encode(v), decode: () => tk.decode(v), idToPiece: () => tk.idToPiece(v), idToBytes: () => tk.idToBytes(v),
            pieceToId: () => tk.pieceToId(v), isEog: () => tk.isEog(v), push: () => tk.createDecoder().push(v),
            encodeOpts: () => tk.encode('Hello', w), decodeOpts: () => tk.decode([1, 403], w),
          }[input.method]();
          if (Array.isArray(out)) checkIds(out, tk.vocabSize, input.method, wrong);
          break;
        }
        case 'loadTokenizer': await settle(pkg.loadTokenizer(v, w), 'loadTokenizer'); break;
        case 'readGGUF': await settle(pkg.readGGUF(v), 'readGGUF'); break;
        case 'renderChat': {
          m = await fresh();
          pkg.renderChat(m.tokenizer, v, w);
          break;
        }
        case 'quantize': pkg.quantizeTensor(v, w); pkg.dequantize(w, v); break;
        case 'segment': pkg.segmentSentences(v); pkg.segmentWords(v); break;
        case 'sequence': m = await fresh(); await sequence(input.seq, m, settle); break;
      }
    } catch (e) {
      if (e instanceof Deadlock) return { status: 'wrong', wrong: e.message };
      throw e;
    } finally {
      m?.dispose?.();
    }
    return wrong.length === 0 ? { status: 'accepted' } : { status: 'wrong', wrong: wrong.join('; ') };
  },
};

class Deadlock extends Error {
  constructor(what) { super(`deadlock: ${what} did not settle in ${DEADLOCK_MS} ms (the process idles)`); }
}

async function sequence(seq, m, settle) {
  const opts = { maxTokens: 3, temperature: 0 };
  switch (seq) {
    case 'interleave': {
      const a = m.generate([1, 403], opts);
      const b = m.generate([1, 403], opts);
      await settle(a.next(), 'a.next()');
      await settle(b.next(), 'b.next() while a is open');
      return;
    }
    case 'abandon': {
      const it = m.generate([1, 403], opts);
      await settle(it.next(), 'next()');
      await settle(m.complete([1, 403], opts), 'complete() after an abandoned iterator');
      return;
    }
    case 'dispose-during': {
      const it = m.generate([1, 403], opts);
      await settle(it.next(), 'next()');
      m.dispose();
      await settle(it.next(), 'next() after dispose');
      return;
    }
    case 'double-dispose': m.dispose(); m.dispose(); return;
    case 'after-dispose': m.dispose(); await settle(m.complete([1, 403], opts), 'complete() after dispose'); return;
    case 'dispose-then-tokenizer': m.dispose(); m.tokenizer.encode('Hello'); return;
    case 'return-then-complete': {
      const it = m.generate([1, 403], opts);
      await settle(it.next(), 'next()');
      await settle(it.return(undefined), 'return()');
      await settle(m.complete([1, 403], opts), 'complete() after return()');
      return;
    }
    case 'concurrent-complete': await settle(Promise.all([m.complete([1, 403], opts), m.complete([1, 403], opts), m.logits([1])]), 'concurrent calls'); return;
  }
}
