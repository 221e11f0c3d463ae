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

// Weight layouts of our own (not GGUF types): Q8_0 and Q4_0 tensors are repacked in place at load
// (`repack`, assembly/weights/q8_0_q4_0.ts) into a quant plane and a scale plane per row; matmul and get_rows
// take these codes (type | REPACKED) and not the GGUF layout of those two types.
export const REPACKED = 256;
export const WASMLM_Q8_0R = 264;
export const WASMLM_Q4_0R = 258;

// A plan is an array of ops in wasm memory; each op is OP_WORDS i32 words: [opcode, arg1, ...].
// f32 arguments are stored as their bit pattern. Pointers are byte offsets into the memory.
// Every op OP_<NAME> names each of its argument words: <NAME>_<ARG> is the word's index in the op
// (1..OP_WORDS-1). The writer (src/engine/plan.ts), the kernels' entries (assembly/ops/<op>.ts) and
// readers (tests, the CLI's profiler) all go through these names, never through positions.
export const OP_WORDS = 20;

// (type, table, rowLen, ids, nTok, out): out[t] = dequantized row ids[t] of table (rowLen values each)
export const OP_GET_ROWS = 1;
export const GET_ROWS_TYPE = 1;
export const GET_ROWS_TABLE = 2;
export const GET_ROWS_ROW_LEN = 3;
export const GET_ROWS_IDS = 4;
export const GET_ROWS_N_TOK = 5;
export const GET_ROWS_OUT = 6;
// (x, w, out, n, nTok, epsBits): out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w   (w = 0: no gain)
export const OP_RMSNORM = 2;
export const RMSNORM_X = 1;
export const RMSNORM_W = 2;
export const RMSNORM_OUT = 3;
export const RMSNORM_N = 4;
export const RMSNORM_N_TOK = 5;
export const RMSNORM_EPS = 6;
// (type, x, act, nIn, nTok): convert f32 rows x[nTok][nIn] to the activation format weights of `type` need
export const OP_PREP_ACT = 3;
export const PREP_ACT_TYPE = 1;
export const PREP_ACT_X = 2;
export const PREP_ACT_ACT = 3;
export const PREP_ACT_N_IN = 4;
export const PREP_ACT_N_TOK = 5;
// (type, w, act, y, nIn, nOut, nTok, r0, r1): y[t*nOut + o] = W[o]·x[t] for o in [r0, r1)
export const OP_MATMUL = 4;
export const MATMUL_TYPE = 1;
export const MATMUL_W = 2;
export const MATMUL_ACT = 3;
export const MATMUL_Y = 4;
export const MATMUL_N_IN = 5;
export const MATMUL_N_OUT = 6;
export const MATMUL_N_TOK = 7;
export const MATMUL_R0 = 8;
export const MATMUL_R1 = 9;
// (x, nTok, nHead, headDim, nRot, pos0, baseBits, freqScaleBits, mode, freqFactors, extFactorBits, attnFactorBits,
//  corrLowBits, corrHighBits): rotate rows x[t][h*headDim..] in place, position pos0+t. The last five are RoPE
//  scaling: freqFactors (f32[nRot/2], 0 = none; LLaMA 3's rope_freqs divide θ_i), and YaRN as ggml's rope_yarn
//  (extFactor 0 = off; attnFactor 0 means 1; corrLow/High: the ramp's dims).
export const OP_ROPE = 5;
export const ROPE_X = 1;
export const ROPE_N_TOK = 2;
export const ROPE_N_HEAD = 3;
export const ROPE_HEAD_DIM = 4;
export const ROPE_N_ROT = 5;
export const ROPE_POS0 = 6;
export const ROPE_BASE = 7;
export const ROPE_FREQ_SCALE = 8;
export const ROPE_MODE = 9;
export const ROPE_FREQ_FACTORS = 10;
export const ROPE_EXT_FACTOR = 11;
export const ROPE_ATTN_FACTOR = 12;
export const ROPE_CORR_LOW = 13;
export const ROPE_CORR_HIGH = 14;
// (q, kc, vc, out, nTok, pos0, nHead, nKvHead, headDim, scaleBits, scratch, window, maxBiasBits, ring, kvType,
//  softcapBits)
//   maxBias > 0: ALiBi, score += slope_h · (−(p − j)) with ggml's slope series for nHead heads.
//   ring > 0: the cache is a ring of `ring` rows: key/value of position j is in row j % ring
//   (the caller keeps ring ≥ window + tokens per batch, so a batch never overwrites keys it reads).
export const OP_ATTENTION = 6;
export const ATTENTION_Q = 1;
export const ATTENTION_KC = 2;
export const ATTENTION_VC = 3;
export const ATTENTION_OUT = 4;
export const ATTENTION_N_TOK = 5;
export const ATTENTION_POS0 = 6;
export const ATTENTION_N_HEAD = 7;
export const ATTENTION_N_KV_HEAD = 8;
export const ATTENTION_HEAD_DIM = 9;
export const ATTENTION_SCALE = 10;
export const ATTENTION_SCRATCH = 11;
export const ATTENTION_WINDOW = 12;
export const ATTENTION_MAX_BIAS = 13;
export const ATTENTION_RING = 14;
//   kvType: the cache's element type, GGML_F32, GGML_F16 or GGML_Q8_0 (rows as OP_KV_CONVERT writes them). A
//   typed cache is dequantized ATTN_TILE rows at a time into the scratch after the scores, once for the (up to
//   ATTN_FUSE_HEADS) heads that share a KV head: the scratch then needs max(min(pos0+nTok, window or ∞),
//   ATTN_FUSE_HEADS·fuseLen) floats for the scores (fuseLen = max(ATTN_FUSE_MIN_LEN, ATTN_FUSE_HEADS·(headDim +
//   ATTN_TILE + 2))), then 16 + 2·ATTN_TILE·headDim·4 bytes (src/engine/state.ts: attentionScratchBytes).
export const ATTENTION_KV_TYPE = 15;
//   softcap > 0: each scaled score s becomes softcap · tanh(s / softcap) before ALiBi and softmax (Gemma 2).
export const ATTENTION_SOFTCAP = 16;
// attention's tiles: keys per tile, heads that go over the cache together, and the shortest context they do so
// for over an f32 cache (assembly/ops/attention.ts, the fused path)
export const ATTN_TILE = 64;
export const ATTN_FUSE_HEADS = 8;
export const ATTN_FUSE_MIN_LEN = 512;
// (a, b, out, n): out = a + b
export const OP_ADD = 7;
export const ADD_A = 1;
export const ADD_B = 2;
export const ADD_OUT = 3;
export const ADD_N = 4;
// (gate, up, out, n): out = silu(gate) * up
export const OP_SILU_MUL = 8;
export const SILU_MUL_GATE = 1;
export const SILU_MUL_UP = 2;
export const SILU_MUL_OUT = 3;
export const SILU_MUL_N = 4;
// (src, dst, nBytes)
export const OP_COPY = 9;
export const COPY_SRC = 1;
export const COPY_DST = 2;
export const COPY_N_BYTES = 3;

// (x, w, b, out, n, nTok, epsBits): LayerNorm (population variance); w = 0: no gain, b = 0: no bias
export const OP_LAYERNORM = 10;
export const LAYERNORM_X = 1;
export const LAYERNORM_W = 2;
export const LAYERNORM_B = 3;
export const LAYERNORM_OUT = 4;
export const LAYERNORM_N = 5;
export const LAYERNORM_N_TOK = 6;
export const LAYERNORM_EPS = 7;
// (x, row, out, n, nTok): out[t] = x[t] + row   (a bias broadcast over nTok rows of n floats)
export const OP_ADD_ROW = 11;
export const ADD_ROW_X = 1;
export const ADD_ROW_ROW = 2;
export const ADD_ROW_OUT = 3;
export const ADD_ROW_N = 4;
export const ADD_ROW_N_TOK = 5;
// (x, row, out, n, nTok): out[t] = x[t] ⊙ row   (LayerScale γ)
export const OP_MUL_ROW = 12;
export const MUL_ROW_X = 1;
export const MUL_ROW_ROW = 2;
export const MUL_ROW_OUT = 3;
export const MUL_ROW_N = 4;
export const MUL_ROW_N_TOK = 5;
// (a, b, out, n, alphaBits, betaBits): out = alpha·a + beta·b   (b may be 0 when beta = 0)
export const OP_AXPBY = 13;
export const AXPBY_A = 1;
export const AXPBY_B = 2;
export const AXPBY_OUT = 3;
export const AXPBY_N = 4;
export const AXPBY_ALPHA = 5;
export const AXPBY_BETA = 6;
// (x, out, n): tanh-GELU as the reference computes it: input rounded to fp16, gelu, result rounded to
// fp16; x ≤ −10 → 0, x ≥ 10 → x
export const OP_GELU = 14;
export const GELU_X = 1;
export const GELU_OUT = 2;
export const GELU_N = 3;
// (a, b, out, n, nTok, aStride, bStride, act): out[t][i] = act(a[t·aStride + i]) · b[t·bStride + i],
// out row stride n; act GLU_SILU or GLU_GELU (the same GELU as OP_GELU)
export const OP_GLU = 15;
export const GLU_A = 1;
export const GLU_B = 2;
export const GLU_OUT = 3;
export const GLU_N = 4;
export const GLU_N_TOK = 5;
export const GLU_A_STRIDE = 6;
export const GLU_B_STRIDE = 7;
export const GLU_ACT = 8;
// (src, srcStride, dst, dstStride, n, nRows): copy n floats per row; strides in floats
export const OP_COPY_ROWS = 16;
export const COPY_ROWS_SRC = 1;
export const COPY_ROWS_SRC_STRIDE = 2;
export const COPY_ROWS_DST = 3;
export const COPY_ROWS_DST_STRIDE = 4;
export const COPY_ROWS_N = 5;
export const COPY_ROWS_N_ROWS = 6;
// (x, router, out, nTok, nExpert, usedAndFlags, nEmbd, nFf, gate, up, down, typeGate, typeUp, typeDown, scratch)
//   Mixture of experts (SwiGLU experts). router: [nTok][nExpert] logits; p = softmax(router); the top
//   nUsed = usedAndFlags & 0xffff experts by p; weights p_sel / Σ p_sel when MOE_NORMALIZE is set, else p_sel;
//   out[t] = Σ_sel w · down_e(silu(gate_e·x[t]) ⊙ up_e·x[t]). gate/up/down: 3-D tensors [nIn, nOut, nExpert]
//   (expert e's matrix at base + e · bytes-per-matrix). scratch: moe_scratch_bytes(...) bytes.
export const OP_MOE = 17;
export const MOE_X = 1;
export const MOE_ROUTER = 2;
export const MOE_OUT = 3;
export const MOE_N_TOK = 4;
export const MOE_N_EXPERT = 5;
export const MOE_USED_AND_FLAGS = 6;
export const MOE_N_EMBD = 7;
export const MOE_N_FF = 8;
export const MOE_GATE = 9;
export const MOE_UP = 10;
export const MOE_DOWN = 11;
export const MOE_TYPE_GATE = 12;
export const MOE_TYPE_UP = 13;
export const MOE_TYPE_DOWN = 14;
export const MOE_SCRATCH = 15;
export const MOE_NORMALIZE = 0x10000;
// (x, out, n, capBits): out = cap · tanh(x / cap), element-wise (logit soft-capping: Gemma 2's final logits)
export const OP_SOFTCAP = 18;
export const SOFTCAP_X = 1;
export const SOFTCAP_OUT = 2;
export const SOFTCAP_N = 3;
export const SOFTCAP_CAP = 4;
// (src, srcType, dst, dstType, headDim, nHead, nRows): convert KV cache rows of nHead heads of headDim values
//   between f32 and a cache type (one of the two types is GGML_F32; f32 to f32 copies). Each head is stored on
//   its own: F16 as halves (round to nearest even); Q8_0 as ggml's block_q8_0 (34 bytes per 32 values: f16
//   d = amax/127, int8 q = nearest(x·127/amax), ggml's x86 quantize_row_q8_0), a head whose headDim is not a
//   multiple of 32 ending in a short block of 2 + headDim % 32 bytes. Rows are nHead · head bytes.
export const OP_KV_CONVERT = 19;
export const KV_CONVERT_SRC = 1;
export const KV_CONVERT_SRC_TYPE = 2;
export const KV_CONVERT_DST = 3;
export const KV_CONVERT_DST_TYPE = 4;
export const KV_CONVERT_HEAD_DIM = 5;
export const KV_CONVERT_N_HEAD = 6;
export const KV_CONVERT_N_ROWS = 7;
// Training (assembly/ops/backward.ts).
// (type, w, dy, dx, nIn, nOut, nTok, scratch): dx[t] += Wᵀ·dy[t], W of nOut rows of nIn in layout `type` (any
// weight type: rows dequantized MATMUL_T_ROWS at a time into the thread's scratch, matmul_t_scratch_bytes).
export const OP_MATMUL_T = 20;
export const MATMUL_T_TYPE = 1;
export const MATMUL_T_W = 2;
export const MATMUL_T_DY = 3;
export const MATMUL_T_DX = 4;
export const MATMUL_T_N_IN = 5;
export const MATMUL_T_N_OUT = 6;
export const MATMUL_T_N_TOK = 7;
export const MATMUL_T_SCRATCH = 8;
// (x, y, c, m, n, nTok, alphaBits): c[i][j] += alpha · Σ_t x[t][i]·y[t][j] (x: [nTok][m], y: [nTok][n], c: [m][n])
export const OP_OUTER_ACC = 21;
export const OUTER_ACC_X = 1;
export const OUTER_ACC_Y = 2;
export const OUTER_ACC_C = 3;
export const OUTER_ACC_M = 4;
export const OUTER_ACC_N = 5;
export const OUTER_ACC_N_TOK = 6;
export const OUTER_ACC_ALPHA = 7;
// (x, w, dy, dx, n, nTok, epsBits): dx[t] += the gradient of RMSNorm (x·r·w) at x[t] for dy[t]
export const OP_RMSNORM_BACK = 22;
export const RMSNORM_BACK_X = 1;
export const RMSNORM_BACK_W = 2;
export const RMSNORM_BACK_DY = 3;
export const RMSNORM_BACK_DX = 4;
export const RMSNORM_BACK_N = 5;
export const RMSNORM_BACK_N_TOK = 6;
export const RMSNORM_BACK_EPS = 7;
// (gate, up, dh, out, n): for h = silu(gate)·up, out[0..n) = d gate, out[n..2n) = d up
export const OP_SILU_MUL_BACK = 23;
export const SILU_MUL_BACK_GATE = 1;
export const SILU_MUL_BACK_UP = 2;
export const SILU_MUL_BACK_DH = 3;
export const SILU_MUL_BACK_OUT = 4;
export const SILU_MUL_BACK_N = 5;
// (q, k, v, dout, out, nTok, nHead, nKvHead, headDim, scaleBits, scratch): causal attention over positions
// 0..nTok−1 backward: out = [dq | dk | dv], overwritten; scratch: 3·nTok floats per thread; the forward's
// score soft-cap (softcapBits, 0: none), ALiBi (maxBiasBits, 0: none) and sliding window (0: none) as OP_ATTENTION's
export const OP_ATTENTION_BACK = 24;
export const ATTENTION_BACK_Q = 1;
export const ATTENTION_BACK_K = 2;
export const ATTENTION_BACK_V = 3;
export const ATTENTION_BACK_DOUT = 4;
export const ATTENTION_BACK_OUT = 5;
export const ATTENTION_BACK_N_TOK = 6;
export const ATTENTION_BACK_N_HEAD = 7;
export const ATTENTION_BACK_N_KV_HEAD = 8;
export const ATTENTION_BACK_HEAD_DIM = 9;
export const ATTENTION_BACK_SCALE = 10;
export const ATTENTION_BACK_SCRATCH = 11;
export const ATTENTION_BACK_SOFTCAP = 12;
export const ATTENTION_BACK_MAX_BIAS = 13;
export const ATTENTION_BACK_WINDOW = 14;
// (logits, targets, loss, n, nRows, scaleBits): per row, loss = logsumexp − logit[target] and the row becomes
// (softmax − one-hot)·scale; target < 0: not learned (loss 0, zero gradient)
export const OP_CROSS_ENTROPY = 25;
export const CROSS_ENTROPY_LOGITS = 1;
export const CROSS_ENTROPY_TARGETS = 2;
export const CROSS_ENTROPY_LOSS = 3;
export const CROSS_ENTROPY_N = 4;
export const CROSS_ENTROPY_N_ROWS = 5;
export const CROSS_ENTROPY_SCALE = 6;
// (type, w, x, y, nIn, nOut, nTok, scratch): y[t] = W·x[t], W's rows dequantized (any type) and x in f32 (the
// training forward pass); scratch: matmul_t_scratch_bytes(nIn) per thread
export const OP_MATMUL_DQ = 26;
export const MATMUL_DQ_TYPE = 1;
export const MATMUL_DQ_W = 2;
export const MATMUL_DQ_X = 3;
export const MATMUL_DQ_Y = 4;
export const MATMUL_DQ_N_IN = 5;
export const MATMUL_DQ_N_OUT = 6;
export const MATMUL_DQ_N_TOK = 7;
export const MATMUL_DQ_SCRATCH = 8;
// Training beyond llama (assembly/ops/backward_ext.ts):
// (x, w, dy, dx, n, nTok, epsBits): dx += the LayerNorm gradient at x for dy (w = 0: no gain; the bias has none)
export const OP_LAYERNORM_BACK = 27;
export const LAYERNORM_BACK_X = 1;
export const LAYERNORM_BACK_W = 2;
export const LAYERNORM_BACK_DY = 3;
export const LAYERNORM_BACK_DX = 4;
export const LAYERNORM_BACK_N = 5;
export const LAYERNORM_BACK_N_TOK = 6;
export const LAYERNORM_BACK_EPS = 7;
// (gate, up, out, n): out = gelu(gate)·up with the smooth tanh GELU (up = 0: out = gelu(gate)); the training
// forward's GELU / GeGLU (inference's OP_GELU / OP_GLU tabulate it in fp16 steps, which have no gradient)
export const OP_GELU_MUL = 28;
export const GELU_MUL_GATE = 1;
export const GELU_MUL_UP = 2;
export const GELU_MUL_OUT = 3;
export const GELU_MUL_N = 4;
// (gate, up, dh, out, n): for h = gelu(gate)·up: out[i] = d gate; up ≠ 0: out[n + i] = d up
export const OP_GELU_MUL_BACK = 29;
export const GELU_MUL_BACK_GATE = 1;
export const GELU_MUL_BACK_UP = 2;
export const GELU_MUL_BACK_DH = 3;
export const GELU_MUL_BACK_OUT = 4;
export const GELU_MUL_BACK_N = 5;
// (x, dy, out, n, capBits): out = dy·(1 − tanh²(x / cap)), the gradient of OP_SOFTCAP at x (out may be dy)
export const OP_SOFTCAP_BACK = 30;
export const SOFTCAP_BACK_X = 1;
export const SOFTCAP_BACK_DY = 2;
export const SOFTCAP_BACK_OUT = 3;
export const SOFTCAP_BACK_N = 4;
export const SOFTCAP_BACK_CAP = 5;
// (type, x, out, nBlocks, scratch): nBlocks blocks of `type` from f32 values (ggml's imatrix-free `_ref`
// quantizers, byte for byte: assembly/quant/); units are blocks; scratch: quantize_scratch_bytes() per thread
export const OP_QUANTIZE = 31;
export const QUANTIZE_TYPE = 1;
export const QUANTIZE_X = 2;
export const QUANTIZE_OUT = 3;
export const QUANTIZE_N_BLOCKS = 4;
export const QUANTIZE_SCRATCH = 5;

export const GLU_SILU = 0;
export const GLU_GELU = 1;

// RoPE modes (as in ggml)
export const ROPE_NORMAL = 0;
export const ROPE_NEOX = 2;

// ---- threads (the threads builds: build/wasmlm.mt.wasm, build/wasmlm.relaxed.mt.wasm) ----
// Those builds import a SHARED memory and env.wait32(addr, expected) (Atomics.wait on the i32 at addr:
// the host's, not the wasm instruction, see assembly/threads.ts), and add over the same kernels:
//   run_job(ctl, plan, nOps): i32    thread 0 (the caller): waits until the workers have left the last
//                                    job, clears the sync area, publishes the plan, runs it with them;
//                                    1 when every op is complete, 0 if a thread failed
//   worker_loop(ctl, tid): void      threads 1..n−1 (one per worker): wait for a job, run it, repeat;
//                                    returns when ctl[CTL_QUIT] is set or a thread failed
//   run_mt(plan, nOps, tid, nThreads, ctl): i32   what both run for a job
//   thread_fail(ctl): void           mark the pool failed and wake every thread (after a trap)
//   threads_quit(ctl): void          workers leave worker_loop (between jobs)
// Each op is cut into chunks of its units (each op's entry says what they are: assembly/ops/<op>.ts,
// `<op>_info`), about ctl[CTL_CHUNKS] per thread (ops whose units differ in cost, as attention's, twice as
// many); ops smaller than ctl[CTL_MIN_SPLIT], and ops whose output overlaps an input other than element
// for element, are one chunk (assembly/scheduler.ts). Threads take chunks first come, first served; each
// element is computed by one thread with the same operations as `run`: results are bit-identical for any
// thread count. A thread takes chunks of an op once the earlier ops it depends on (by the bytes they read
// and write) are complete: a dependency wait, spin then sleep, in place of a barrier after every op.
// Scratch: under run_mt, a thread tid uses the OP_ATTENTION and OP_MOE `scratch` argument plus
// tid · ctl[CTL_SCRATCH_STRIDE] bytes: the host allocates nThreads copies, CTL_SCRATCH_STRIDE apart.
//
// ctl: a control block of CTL_BYTES bytes, 64-byte aligned, zero-filled before the workers start, then
// the host-set words written; i32 words (hot words on their own 64-byte lines):
export const CTL_BYTES = 256;
/** bumped by every event a thread may wait for (an op complete, a job, a worker done, a failure, quit) */
export const CTL_PROGRESS = 0;
/** nonzero: a thread failed (every waiting thread returns) */
export const CTL_ERROR = 1;
/** workers that have left the current job (the host starts it at nThreads − 1: no job yet) */
export const CTL_EXIT = 16;
/** job sequence number: bumped by run_job (workers start at 0) */
export const CTL_JOB = 32;
/** the published job's plan pointer and op count */
export const CTL_PLAN = 33;
export const CTL_NOPS = 34;
/** nonzero: workers leave worker_loop (threads_quit) */
export const CTL_QUIT = 35;
/** threads sleeping in env.wait32 on ctl[CTL_PROGRESS] (events notify only when nonzero) */
export const CTL_SLEEPERS = 48;
/** host-set: spin iterations before sleeping */
export const CTL_SPIN = 49;
/** host-set: bytes between the per-thread scratch areas */
export const CTL_SCRATCH_STRIDE = 50;
/** host-set: thread count */
export const CTL_NTHREADS = 51;
/** host-set: nonzero if thread 0 may sleep (not on a browser's main thread, where Atomics.wait throws) */
export const CTL_WAIT0 = 52;
/** host-set: split ops from this many floats (matmuls from 16× as many multiply-adds); smaller ones are
 *  one chunk (0: split every op that can be split) */
export const CTL_MIN_SPLIT = 53;
/** statistics: times a thread went to sleep (spun ctl[CTL_SPIN] times in vain) */
export const CTL_SLEEPS = 54;
/** host-set: the sync area (64-byte aligned): SYNC_BYTES per op of a plan */
export const CTL_SYNC = 55;
/** host-set: ops the sync area holds (run_job traps on a longer plan) */
export const CTL_SYNC_OPS = 56;
/** host-set: chunks per thread an op is cut into (about; attention twice as many) */
export const CTL_CHUNKS = 57;
/** host-set, tests: before each chunk a thread spins a pseudo-random 0..n−1 reads (0: never), so that a
 *  missing dependency wait shows as wrong results */
export const CTL_JITTER = 58;
// The sync line of op k, at ctl[CTL_SYNC] + k · SYNC_BYTES (cleared by run_job), i32 words:
export const SYNC_BYTES = 64;
/** chunks taken */
export const SYNC_TAKEN = 0;
/** chunks done */
export const SYNC_DONE = 1;
/** 1 once every chunk is done */
export const SYNC_COMPLETE = 2;
