// The contract between the TypeScript plan builder and the AssemblyScript kernels.
// This file is compiled by BOTH tsc and asc: keep it to plain `export const NAME = <int>;` lines.

// ggml tensor types (values as in GGUF files).
export const GGML_F32 = 0;
export const GGML_F16 = 1;
export const GGML_Q4_0 = 2;
export const GGML_Q4_1 = 3;
export const GGML_Q5_0 = 6;
export const GGML_Q5_1 = 7;
export const GGML_Q8_0 = 8;
export const GGML_Q8_1 = 9;
export const GGML_Q2_K = 10;
export const GGML_Q3_K = 11;
export const GGML_Q4_K = 12;
export const GGML_Q5_K = 13;
export const GGML_Q6_K = 14;
export const GGML_Q8_K = 15;
export const GGML_BF16 = 30;

// A plan is an array of ops in wasm memory; each op is OP_WORDS i32 words: [opcode, arg1, ...].
// f32 arguments are stored as their bit pattern. Pointers are byte offsets into the memory.
export const OP_WORDS = 16;

// (type, table, rowLen, ids, nTok, out): out[t] = dequantized row ids[t] of table (rowLen values each)
export const OP_GET_ROWS = 1;
// (x, w, out, n, nTok, epsBits): out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w   (w = 0: no gain)
export const OP_RMSNORM = 2;
// (type, x, act, nIn, nTok): convert f32 rows x[nTok][nIn] to the activation format weights of `type` need
export const OP_PREP_ACT = 3;
// (type, w, act, y, nIn, nOut, nTok, r0, r1): y[t*nOut + o] = W[o]·x[t] for o in [r0, r1)
export const OP_MATMUL = 4;
// (x, nTok, nHead, headDim, nRot, pos0, baseBits, freqScaleBits, mode): rotate rows x[t][h*headDim..] in place, position pos0+t
export const OP_ROPE = 5;
// (q, kc, vc, out, nTok, pos0, nHead, nKvHead, headDim, scaleBits, scratch, window)
export const OP_ATTENTION = 6;
// (a, b, out, n): out = a + b
export const OP_ADD = 7;
// (gate, up, out, n): out = silu(gate) * up
export const OP_SILU_MUL = 8;
// (src, dst, nBytes)
export const OP_COPY = 9;

// RoPE modes (as in ggml)
export const ROPE_NORMAL = 0;
export const ROPE_NEOX = 2;
