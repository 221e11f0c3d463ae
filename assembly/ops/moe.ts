// OP_MOE: a mixture of SwiGLU experts, routed per token (Mixtral-style).
//
// Per token t: p = softmax(router[t]) over nExpert; the top nUsed experts by p (ties: lower index), in
// decreasing p ("slots"); w_s = p_s / Σ p (Σ in f64, rounded to f32) with MOE_NORMALIZE, else p_s;
// out[t] = ((w_0·y_0) + w_1·y_1) + ...  in slot order, y_s = down_e(silu(gate_e·x[t]) ⊙ up_e·x[t]) computed
// with the existing prep_act/matmul for each weight type (activations quantized as for any matmul).
// That is the reference engine's order: it multiplies each expert output by its weight and adds the
// slots in top-k order.
//
// Grouping (prefill): tokens go in chunks of CHUNK (32); within a chunk, slot by slot, the tokens whose slot-s
// expert is e run through expert e together, so expert e's weights stream once per (chunk, slot) instead
// of once per token. Every per-token quantity is computed exactly as for a lone token (activation
// quantization is per row, matmul results do not depend on nTok for the blocked types, F32 matmuls are
// called one token at a time, and the weighted sums are added in slot order), so results do not depend
// on nTok or on a token's neighbours. moe_ref is the plain per-token scalar twin (scalar softmax,
// prep_act_ref, matmul_ref).
//
// Expert matrices: 3-D GGUF tensors ne = [nIn, nOut, nExpert]; expert e's matrix starts at
// base + e · nOut · rowBytesOf(type, nIn). out may equal x (the chunk's input rows are copied first).
// scratch: moe_scratch_bytes(...) bytes, 64-byte aligned.
import * as abi from "../../src/abi";
import { GGML_F32, MOE_NORMALIZE } from "../../src/abi";
import { act_bytes, prep_act, prep_act_ref, matmul, matmul_ref, rowBytesOf } from "../weights";
import { softmax, softmax_ref } from "./attention";
import { silu_mul, silu_mul_ref } from "./activations";
import { ALIGN, ALWAYS_SPLIT, READS, UNITS, WORK, WRITES, arg, ptr, region, rowsBytes } from "./entry";

const CHUNK: i32 = 32;

// @ts-ignore: decorator
@inline function al64(n: usize): usize { return (n + 63) & ~(<usize>63); }

// ---- scratch layout (byte offsets from scratch; every buffer 64-byte aligned) ----
// probs f32 [CHUNK][nExpert] | sel i32 [CHUNK][nExpert] | wsel f32 [CHUNK][nExpert] | list i32 [CHUNK]
// | xc f32 [CHUNK][nEmbd] (the chunk's input) | xg f32 [CHUNK][nEmbd] (a group's input)
// | actG | actU | gate f32 [CHUNK][nFf] | up f32 [CHUNK][nFf] | actH | y f32 [CHUNK][nEmbd]

// @ts-ignore: decorator
@inline function offSel(nExpert: i32): usize { return al64(<usize>CHUNK * <usize>nExpert << 2); }
// @ts-ignore: decorator
@inline function offWsel(nExpert: i32): usize { return offSel(nExpert) * 2; }
// @ts-ignore: decorator
@inline function offList(nExpert: i32): usize { return offSel(nExpert) * 3; }
// @ts-ignore: decorator
@inline function offXc(nExpert: i32): usize { return offList(nExpert) + al64(<usize>CHUNK << 2); }

// @ts-ignore: decorator
@inline function chunkBytes(n: i32): usize { return al64(<usize>CHUNK * <usize>n << 2); }

/** Scratch bytes OP_MOE needs (independent of nTok: tokens go in fixed-size chunks). */
export function moe_scratch_bytes(nExpert: i32, nEmbd: i32, nFf: i32, typeGate: i32, typeUp: i32, typeDown: i32): i32 {
  let n = offXc(nExpert);
  n += 2 * chunkBytes(nEmbd);                            // xc, xg
  n += al64(<usize>act_bytes(typeGate, nEmbd, CHUNK));   // actG
  n += al64(<usize>act_bytes(typeUp, nEmbd, CHUNK));     // actU
  n += 2 * chunkBytes(nFf);                              // gate, up
  n += al64(<usize>act_bytes(typeDown, nFf, CHUNK));     // actH
  n += chunkBytes(nEmbd);                                // y
  return <i32>n;
}

// Routing of one token: probs ← softmax(router row); sel/wsel[s] for s < nUsed.
// @ts-ignore: decorator
@inline function route(rrow: usize, probs: usize, sel: usize, wsel: usize, nExpert: i32, nUsed: i32,
                       normalize: bool, simd: bool): void {
  memory.copy(probs, rrow, <usize>nExpert << 2);
  if (simd) softmax(probs, nExpert);
  else softmax_ref(probs, nExpert);
  let sum: f64 = 0;
  for (let s = 0; s < nUsed; s++) {
    // arg max over the experts not yet taken (taken ones hold −1; a NaN never wins)
    let best = -1;
    let bp: f32 = -1;
    for (let e = 0; e < nExpert; e++) {
      const v = load<f32>(probs + (<usize>e << 2));
      if (v > bp) { bp = v; best = e; }
    }
    if (best < 0) { // all remaining are NaN: take the lowest untaken index
      for (let e = 0; e < nExpert; e++) {
        const v = load<f32>(probs + (<usize>e << 2));
        if (v != <f32>-1.0) { best = e; bp = v; break; }
      }
    }
    store<i32>(sel + (<usize>s << 2), best);
    store<f32>(wsel + (<usize>s << 2), bp);
    store<f32>(probs + (<usize>best << 2), -1.0);
    sum += <f64>bp;
  }
  if (normalize) {
    const sf = <f32>sum;
    for (let s = 0; s < nUsed; s++) {
      const p = wsel + (<usize>s << 2);
      store<f32>(p, load<f32>(p) / sf);
    }
  }
}

// o = w·y (first slot) or o + w·y, n floats
// @ts-ignore: decorator
@inline function accumulate(o: usize, y: usize, w: f32, n: i32, first: bool, simd: bool): void {
  let i = 0;
  if (simd) {
    const wv = f32x4.splat(w);
    if (first) {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(o + off, f32x4.mul(wv, v128.load(y + off)));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(o + off, f32x4.add(v128.load(o + off), f32x4.mul(wv, v128.load(y + off))));
      }
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const v = w * load<f32>(y + off);
    store<f32>(o + off, first ? v : load<f32>(o + off) + v);
  }
}

// y[t] = W·x[t] for nTok tokens; F32 one token at a time (its 1- and 4-token kernels round differently)
// @ts-ignore: decorator
@inline function mm(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32): void {
  if (type == GGML_F32) {
    for (let t = 0; t < nTok; t++) {
      matmul(type, w, act + (<usize>t * <usize>nIn << 2), y + (<usize>t * <usize>nOut << 2), nIn, nOut, 1, 0, nOut);
    }
  } else {
    matmul(type, w, act, y, nIn, nOut, nTok, 0, nOut);
  }
}

// @ts-ignore: decorator
@inline function matBytes(type: i32, nIn: i32, nOut: i32): usize { return <usize>nOut * rowBytesOf(type, nIn); }

// One expert's FFN on n rows of xg -> y (buffers in scratch); simd false: scalar twins.
function expertFfn(e: i32, n: i32, nEmbd: i32, nFf: i32, gate: usize, up: usize, down: usize,
                   typeGate: i32, typeUp: i32, typeDown: i32,
                   xg: usize, actG: usize, actU: usize, g: usize, u: usize, actH: usize, y: usize, simd: bool): void {
  const gw = gate + <usize>e * matBytes(typeGate, nEmbd, nFf);
  const uw = up + <usize>e * matBytes(typeUp, nEmbd, nFf);
  const dw = down + <usize>e * matBytes(typeDown, nFf, nEmbd);
  // activations of x (F32 weights read xg directly; up shares gate's act when the types agree)
  let ag = xg, au = xg;
  if (typeGate != GGML_F32) {
    ag = actG;
    if (simd) prep_act(typeGate, xg, ag, nEmbd, n);
    else prep_act_ref(typeGate, xg, ag, nEmbd, n);
  }
  if (typeUp == typeGate) au = ag;
  else if (typeUp != GGML_F32) {
    au = actU;
    if (simd) prep_act(typeUp, xg, au, nEmbd, n);
    else prep_act_ref(typeUp, xg, au, nEmbd, n);
  }
  if (simd) {
    mm(typeGate, gw, ag, g, nEmbd, nFf, n);
    mm(typeUp, uw, au, u, nEmbd, nFf, n);
    silu_mul(g, u, g, n * nFf);
  } else {
    matmul_ref(typeGate, gw, ag, g, nEmbd, nFf, n, 0, nFf);
    matmul_ref(typeUp, uw, au, u, nEmbd, nFf, n, 0, nFf);
    silu_mul_ref(g, u, g, n * nFf);
  }
  let ah = g;
  if (typeDown != GGML_F32) {
    ah = actH;
    if (simd) prep_act(typeDown, g, ah, nFf, n);
    else prep_act_ref(typeDown, g, ah, nFf, n);
  }
  if (simd) mm(typeDown, dw, ah, y, nFf, nEmbd, n);
  else matmul_ref(typeDown, dw, ah, y, nFf, nEmbd, n, 0, nEmbd);
}

function moeImpl(x: usize, router: usize, out: usize, nTok: i32, nExpert: i32, usedAndFlags: i32,
                 nEmbd: i32, nFf: i32, gate: usize, up: usize, down: usize,
                 typeGate: i32, typeUp: i32, typeDown: i32, scratch: usize, simd: bool): void {
  const nUsed = min<i32>(usedAndFlags & 0xffff, nExpert);
  const normalize = (usedAndFlags & MOE_NORMALIZE) != 0;
  const chunk = simd ? CHUNK : 1;
  const eb = <usize>nExpert << 2;
  const xb = <usize>nEmbd << 2;
  const probs = scratch;
  const sel = scratch + offSel(nExpert);
  const wsel = scratch + offWsel(nExpert);
  const list = scratch + offList(nExpert);
  const xc = scratch + offXc(nExpert);
  const xg = xc + chunkBytes(nEmbd);
  const actG = xg + chunkBytes(nEmbd);
  const actU = actG + al64(<usize>act_bytes(typeGate, nEmbd, CHUNK));
  const g = actU + al64(<usize>act_bytes(typeUp, nEmbd, CHUNK));
  const u = g + chunkBytes(nFf);
  const actH = u + chunkBytes(nFf);
  const y = actH + al64(<usize>act_bytes(typeDown, nFf, CHUNK));

  if (nUsed <= 0) { // no expert: zero output
    memory.fill(out, 0, <usize>nTok * xb);
    return;
  }
  for (let c0 = 0; c0 < nTok; c0 += chunk) {
    const nc = min<i32>(chunk, nTok - c0);
    for (let i = 0; i < nc; i++) {
      route(router + <usize>(c0 + i) * eb, probs, sel + <usize>i * eb, wsel + <usize>i * eb, nExpert, nUsed, normalize, simd);
    }
    memory.copy(xc, x + <usize>c0 * xb, <usize>nc * xb);
    for (let s = 0; s < nUsed; s++) {
      for (let e = 0; e < nExpert; e++) {
        // the chunk's tokens whose slot s is expert e
        let ng = 0;
        for (let i = 0; i < nc; i++) {
          if (load<i32>(sel + <usize>i * eb + (<usize>s << 2)) == e) {
            store<i32>(list + (<usize>ng << 2), i);
            memory.copy(xg + <usize>ng * xb, xc + <usize>i * xb, xb);
            ng++;
          }
        }
        if (ng == 0) continue;
        expertFfn(e, ng, nEmbd, nFf, gate, up, down, typeGate, typeUp, typeDown, xg, actG, actU, g, u, actH, y, simd);
        for (let k = 0; k < ng; k++) {
          const i = load<i32>(list + (<usize>k << 2));
          const w = load<f32>(wsel + <usize>i * eb + (<usize>s << 2));
          accumulate(out + <usize>(c0 + i) * xb, y + <usize>k * xb, w, nEmbd, s == 0, simd);
        }
      }
    }
  }
}

/** OP_MOE (see the header and abi.ts). */
export function moe(x: usize, router: usize, out: usize, nTok: i32, nExpert: i32, usedAndFlags: i32,
                    nEmbd: i32, nFf: i32, gate: usize, up: usize, down: usize,
                    typeGate: i32, typeUp: i32, typeDown: i32, scratch: usize): void {
  moeImpl(x, router, out, nTok, nExpert, usedAndFlags, nEmbd, nFf, gate, up, down, typeGate, typeUp, typeDown, scratch, true);
}

/** Scalar twin of moe: one token at a time, scalar softmax, prep_act_ref, matmul_ref, silu_mul_ref. */
export function moe_ref(x: usize, router: usize, out: usize, nTok: i32, nExpert: i32, usedAndFlags: i32,
                        nEmbd: i32, nFf: i32, gate: usize, up: usize, down: usize,
                        typeGate: i32, typeUp: i32, typeDown: i32, scratch: usize): void {
  moeImpl(x, router, out, nTok, nExpert, usedAndFlags, nEmbd, nFf, gate, up, down, typeGate, typeUp, typeDown, scratch, false);
}

// ---- entry for the scheduler (see entry.ts): units are tokens, in groups of CHUNK (the expert weights
// stream once per group); a thread's buffers are its own copy of the scratch

export function moe_info(q: i32, op: usize): i64 {
  const nTok = arg(op, abi.MOE_N_TOK), nEmbd = arg(op, abi.MOE_N_EMBD);
  if (q == UNITS) return nTok;
  if (q == ALIGN) return CHUNK;
  if (q == WORK) return ALWAYS_SPLIT;
  if (q == WRITES) return region(ptr(op, abi.MOE_OUT), rowsBytes(nEmbd, nTok));
  if (q == READS) return region(ptr(op, abi.MOE_X), rowsBytes(nEmbd, nTok));
  if (q == READS + 1) return region(ptr(op, abi.MOE_ROUTER), rowsBytes(arg(op, abi.MOE_N_EXPERT), nTok));
  return 0;
}

export function moe_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const nExpert = arg(op, abi.MOE_N_EXPERT), nEmbd = arg(op, abi.MOE_N_EMBD);
  const xo = <usize>lo * <usize>nEmbd << 2;
  moe(ptr(op, abi.MOE_X) + xo, ptr(op, abi.MOE_ROUTER) + (<usize>lo * <usize>nExpert << 2), ptr(op, abi.MOE_OUT) + xo,
      hi - lo, nExpert, arg(op, abi.MOE_USED_AND_FLAGS), nEmbd, arg(op, abi.MOE_N_FF), ptr(op, abi.MOE_GATE),
      ptr(op, abi.MOE_UP), ptr(op, abi.MOE_DOWN), arg(op, abi.MOE_TYPE_GATE), arg(op, abi.MOE_TYPE_UP),
      arg(op, abi.MOE_TYPE_DOWN), ptr(op, abi.MOE_SCRATCH) + scratch);
}
