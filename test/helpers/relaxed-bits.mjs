// The relaxed-SIMD build against the plain one, bit for bit, on Q8_0 and Q4_0 matmuls, in the kernel form the
// relaxed build picks by how the engine lowers i32x4.relaxed_dot_i8x16_i7x16_add_s (the fused x86 VNNI dot,
// or the i16 relaxed dot; weights/act.ts dotAddFast). Self-contained so that it runs as it is in Node ≥ 22,
// Deno and a Chromium page (page.evaluate): relaxedBits({ plain, relaxed }) (the two builds' bytes) ->
// { fast: the relaxed build's dot_add_fast(), cases, mismatches: ['Q8_0 nIn=.. nTok=.. y: y[i] bits .. vs ..'] }
// (matmul and matmul_ref of each build; and the relaxed build's prep_act against its prep_act_ref).
// Weights: random GGUF blocks (fp16 scales of every magnitude class but inf/NaN, quants of the whole i8 range,
// every 7th Q8_0 quant −128: the value the fused Q8_0 form must get right), act rows with zero blocks.
//
//   node22 test/helpers/relaxed-bits.mjs | deno run --allow-read test/helpers/relaxed-bits.mjs   (prints JSON)
export async function relaxedBits({ plain, relaxed }) {
  const GGML_Q4_0 = 2, GGML_Q8_0 = 8;
  let seed = 0x2545f491;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
  const inst = async (bytes) => {
    const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536 });
    const instance = await WebAssembly.instantiate(await WebAssembly.compile(new Uint8Array(bytes)), { env: { memory } });
    return { k: /** @type {any} */ (instance.exports), memory };
  };
  const builds = [await inst(plain), await inst(relaxed)];
  const fast = builds[1].k.dot_add_fast?.() ?? 0;
  const mismatches = [];
  let cases = 0;
  for (const type of [GGML_Q8_0, GGML_Q4_0]) {
    const bs = type === GGML_Q8_0 ? 34 : 18;
    for (const nIn of [32, 96, 160, 1024]) {
      for (const nTok of [1, 2, 3, 4, 5, 7]) {
        const nOut = 5, nb = nIn / 32;
        const w = new Uint8Array(nOut * nb * bs);
        for (let b = 0; b < nOut * nb; b++) {
          const o = b * bs;
          // fp16 scale: sign, exponent 1..29 (normal; exponent 0 now and then: zero or subnormal), mantissa
          const e = b % 11 === 3 ? 0 : 1 + Math.floor(rnd() * 29);
          const h = (rnd() < 0.5 ? 0x8000 : 0) | (e << 10) | Math.floor(rnd() * 1024);
          w[o] = h & 255; w[o + 1] = h >> 8;
          for (let j = 2; j < bs; j++) w[o + j] = type === GGML_Q8_0 && (b * bs + j) % 7 === 0 ? 0x80 : Math.floor(rnd() * 256);
        }
        const x = new Float32Array(nTok * nIn);
        for (let i = 0; i < x.length; i++) x[i] = ((i >> 5) % 5 === 2) ? 0 : (rnd() * 2 - 1) * (1 + 100 * (i % 3 === 0 ? rnd() : 0));
        // per build: matmul, matmul_ref, and whether prep_act and prep_act_ref wrote the same bytes
        const ys = builds.map(({ k, memory }) => {
          const wp = 65536, sp = wp + w.length + 64, xp = (sp + nb * bs + 127) & ~63;
          const ap = (xp + x.byteLength + 127) & ~63, actN = k.act_bytes(type | 256, nIn, nTok);
          const rp = (ap + actN + 127) & ~63, yp = (rp + actN + 127) & ~63, yr = yp + nOut * nTok * 4;
          new Uint8Array(memory.buffer, wp, w.length).set(w);
          new Float32Array(memory.buffer, xp, x.length).set(x);
          const mt = k.repack(type, wp, nOut, nIn, sp);
          k.prep_act(mt, xp, ap, nIn, nTok);
          k.prep_act_ref(mt, xp, rp, nIn, nTok);
          const a = new Uint8Array(memory.buffer, ap, actN), r = new Uint8Array(memory.buffer, rp, actN);
          k.matmul(mt, wp, ap, yp, nIn, nOut, nTok, 0, nOut);
          k.matmul_ref(mt, wp, rp, yr, nIn, nOut, nTok, 0, nOut);
          return { y: new Uint32Array(memory.buffer.slice(yp, yp + nOut * nTok * 4)),
            ref: new Uint32Array(memory.buffer.slice(yr, yr + nOut * nTok * 4)), prepSame: a.every((v, i) => v === r[i]) };
        });
        cases++;
        const name = `${type === GGML_Q8_0 ? 'Q8_0' : 'Q4_0'} nIn=${nIn} nTok=${nTok}`;
        if (!ys[1].prepSame) mismatches.push(`${name}: the relaxed build's prep_act and prep_act_ref differ`);
        for (const key of ['y', 'ref']) {   // matmul, and the scalar twin
          const [p, r] = [ys[0][key], ys[1][key]];
          for (let i = 0; i < p.length; i++) {
            if (p[i] !== r[i]) { mismatches.push(`${name} ${key}: y[${i}] bits ${p[i].toString(16)} vs ${r[i].toString(16)}`); break; }
          }
        }
      }
    }
  }
  return { fast, cases, mismatches };
}

// as a script (Node, Deno): the builds from build/, the result as JSON on stdout
const isMain = typeof process !== 'undefined' && process.argv?.[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '');
if (isMain) {
  const { readFileSync } = await import('node:fs');
  const dir = process.argv[2] ?? new URL('../../build/', import.meta.url).pathname;   // (another build's directory)
  const read = (name) => readFileSync(`${dir}/${name}`);
  console.log(JSON.stringify(await relaxedBits({ plain: read('wasmlm.wasm'), relaxed: read('wasmlm.relaxed.wasm') })));
}
