/** What training reads of an engine (Engine.trainingAccess): the spec, the frozen weights, memory, kernels. */
import type { KernelExports } from '../engine/wasm.js';
import type { Views } from '../engine/memory.js';
import type { Plan } from '../engine/plan.js';
import type { JobLayout } from '../engine/pool.js';
import type { Weights } from '../engine/weights.js';
import type { ModelSpec } from '../models/spec.js';

/** The kernel exports training calls (assembly/index.ts), beside the engine's. */
export interface TrainKernelExports extends KernelExports {
  /** out[t] = row ids[t] of `table` (layout code `type`) dequantized to f32 */
  get_rows(type: number, table: number, rowLen: number, ids: number, nTok: number, out: number): void;
  /** bytes of scratch OP_MATMUL_T needs (per thread) for rows of nIn */
  matmul_t_scratch_bytes(nIn: number): number;
  /** bytes of scratch OP_ATTENTION_BACK needs (per thread) for nTok tokens */
  attention_back_scratch_bytes(nTok: number): number;
}

export interface TrainingAccess {
  spec: ModelSpec;
  weights: Weights;
  views: Views;
  kernels: TrainKernelExports;
  /** a new region of `bytes` (memory grown for it), for the caller to keep (the tests' float64 references) */
  scratch(bytes: number): number;
  /**
   * The engine's one training region, at least `bytes` (grown for it; its address changes only when it grows):
   * shared by every trainer, so nothing in it outlives a call.
   */
  workspace(bytes: number): number;
  /** threads a plan runs on (1: this thread; the pool's count while it is alive) */
  readonly threads: number;
  /** Runs plan P on the engine's threads; `job`: its per-thread scratch stride and its sync area (threads > 1). */
  run(P: Plan, job?: JobLayout): void;
}
