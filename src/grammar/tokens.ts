/**
 * Grammar constraints over a vocabulary: which tokens may come next.
 *
 * The vocabulary's byte strings (each token's bytes as it adds them to the text) go into a trie, stored
 * in preorder, built once per tokenizer. A mask walks the trie together with the matcher: a prefix the
 * grammar rejects prunes its whole subtree, and the matcher's memoised transitions make each edge one
 * array read for states seen before. Masks are cached per matcher state (most tokens of a JSON value go
 * inside strings, where the state repeats). Sampling is lazy: the sampled token is checked first, the
 * full mask computed only when the grammar rejects it (as llama.cpp does; `npm run bench -- --grammar`
 * measures both).
 *
 * Tokens whose bytes are empty (control tokens) are never allowed; end-of-generation tokens are allowed
 * exactly when the text so far is a complete sentence of the grammar.
 */
import { WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { CompiledGrammar } from './matcher.js';

/** The vocabulary as a trie in preorder: node i's byte, depth, the end of its subtree, its tokens. */
export class VocabTrie {
  readonly byte: Uint8Array;
  readonly depth: Uint16Array;
  readonly skip: Int32Array;
  /** tokens ending at node i: ids[tokStart[i] .. tokStart[i + 1]) */
  readonly tokStart: Int32Array;
  readonly ids: Int32Array;
  /** each token's bytes (empty for tokens that add nothing) */
  readonly bytes: Uint8Array[];
  readonly size: number;
  readonly maxDepth: number;
  /** the index of the root's child for a space (0x20), or -1 */
  readonly spaceChild: number;

  constructor(tokenizer: Tokenizer) {
    const V = tokenizer.vocabSize;
    const bytes: Uint8Array[] = new Array(V);
    for (let id = 0; id < V; id++) bytes[id] = tokenizer.idToBytes(id);
    this.bytes = bytes;
    const order: number[] = [];
    for (let id = 0; id < V; id++) if (bytes[id]!.length > 0) order.push(id);
    // byte order = the order of the bytes as latin-1 strings (compared by code unit)
    const keys = bytes.map((b) => latin1(b));
    order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));
    // preorder from the sorted strings: a path stack, one new node per byte past the common prefix
    const nodeByte: number[] = [0], nodeDepth: number[] = [0], owner: number[] = [];
    const path: number[] = [0];
    const tokNode: number[] = [];
    let prev: Uint8Array = new Uint8Array(0);
    for (const id of order) {
      const s = bytes[id]!;
      let common = 0;
      while (common < s.length && common < prev.length && s[common] === prev[common]) common++;
      path.length = common + 1;
      for (let d = common; d < s.length; d++) {
        path.push(nodeByte.length);
        nodeByte.push(s[d]!);
        nodeDepth.push(d + 1);
      }
      tokNode.push(path[s.length]!);
      owner.push(id);
      prev = s;
    }
    const N = nodeByte.length;
    this.size = N;
    this.maxDepth = nodeDepth.reduce((a, b) => Math.max(a, b), 0);
    this.byte = Uint8Array.from(nodeByte);
    this.depth = Uint16Array.from(nodeDepth);
    const skip = new Int32Array(N);
    const stack: number[] = [];
    for (let i = 0; i < N; i++) {
      while (stack.length > 0 && nodeDepth[stack[stack.length - 1]!]! >= nodeDepth[i]!) skip[stack.pop()!] = i;
      stack.push(i);
    }
    for (const i of stack) skip[i] = N;
    this.skip = skip;
    // tokens by node (tokNode is non-decreasing: tokens were visited in preorder)
    const tokStart = new Int32Array(N + 1);
    for (const n of tokNode) tokStart[n + 1]!++;
    for (let i = 0; i < N; i++) tokStart[i + 1]! += tokStart[i]!;
    this.tokStart = tokStart;
    this.ids = Int32Array.from(owner);
    let space = -1;
    for (let i = 1; i < N; i = skip[i]!) if (this.byte[i] === 0x20) space = i;
    this.spaceChild = space;
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

const tries = new WeakMap<Tokenizer, VocabTrie>();
/** The trie of a tokenizer's vocabulary, built on first use. */
export function vocabTrie(tokenizer: Tokenizer): VocabTrie {
  let t = tries.get(tokenizer);
  if (t === undefined) { t = new VocabTrie(tokenizer); tries.set(tokenizer, t); }
  return t;
}

const MASK_CACHE = 256;

/** A bitset over the vocabulary: bit id set = allowed. */
export type TokenMask = Uint32Array;

/**
 * One generation's constraint: the matcher's state as tokens are accepted, and the masks. `first`
 * (the decoder drops the first token's leading space after BOS) makes the first token's bytes count
 * without it.
 */
export class TokenConstraint {
  /** the matcher state */
  state: number;
  private stripSpace: boolean;
  private readonly cache = new Map<number, TokenMask>();
  private readonly ids = new Map<number, Int32Array>();
  /** the end-of-generation ids, and whether they may end the text */
  private readonly eog: number[];
  private readonly allowEog: boolean;
  /** draw first, mask only if the draw is disallowed (Sampler.sample); false: always mask */
  lazy = true;
  /** statistics: masks computed (walks) and served from the cache */
  walks = 0;
  cached = 0;

  constructor(
    readonly grammar: CompiledGrammar,
    readonly tokenizer: Tokenizer,
    readonly trie: VocabTrie,
    opts: { stripFirstSpace?: boolean; allowEog?: boolean } = {},
  ) {
    this.state = grammar.start;
    this.stripSpace = opts.stripFirstSpace ?? false;
    const eog: number[] = [];
    for (let id = 0; id < tokenizer.vocabSize; id++) if (tokenizer.isEog(id)) eog.push(id);
    this.eog = eog;
    this.allowEog = opts.allowEog ?? true;
  }

  /** The text so far is a complete sentence. */
  get complete(): boolean {
    return this.grammar.state(this.state).accepting;
  }

  /** Complete, and nothing more can follow: generation is over. */
  get done(): boolean {
    return this.grammar.finished(this.state);
  }

  private bytesOf(id: number): Uint8Array {
    const b = this.trie.bytes[id]!;
    return this.stripSpace && b[0] === 0x20 ? b.subarray(1) : b;
  }

  /** The state after token id, or -1 if the grammar rejects it. */
  private after(id: number): number {
    if (id < 0 || id >= this.trie.bytes.length) return -1;
    if (this.tokenizer.isEog(id)) return -1;
    const b = this.bytesOf(id);
    if (b.length === 0) return -1;
    return this.grammar.advanceBytes(this.state, b);
  }

  /** May token id come next? */
  allows(id: number): boolean {
    if (this.eog.includes(id)) return this.allowEog && this.complete;
    return this.after(id) >= 0;
  }

  /** Take token id (which must be allowed). */
  accept(id: number): void {
    if (this.tokenizer.isEog(id)) return;
    const next = this.after(id);
    if (next < 0) throw new WasmlmError('BAD_ARGUMENT', `token ${id} does not continue the grammar`);
    this.state = next;
    this.stripSpace = false;
  }

  /** The allowed tokens now, as a bitset (cached per matcher state). */
  mask(): TokenMask {
    if (!this.stripSpace) {
      const hit = this.cache.get(this.state);
      if (hit !== undefined) { this.cached++; return hit; }
    }
    this.walks++;
    const m = this.walk();
    if (!this.stripSpace) {
      if (this.cache.size >= MASK_CACHE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(this.state, m);
    }
    return m;
  }

  /** The allowed ids now, ascending (cached per matcher state). Throws BAD_GRAMMAR if there are none. */
  allowed(): Int32Array {
    const hit = this.stripSpace ? undefined : this.ids.get(this.state);
    if (hit !== undefined) return hit;
    const m = this.mask();
    let n = 0;
    for (let w = 0; w < m.length; w++) for (let word = m[w]!; word !== 0; word &= word - 1) n++;
    if (n === 0) {
      throw new WasmlmError('BAD_GRAMMAR', 'no token of the vocabulary can continue the grammar here (it needs text the vocabulary cannot write)');
    }
    const ids = new Int32Array(n);
    n = 0;
    for (let w = 0; w < m.length; w++) {
      for (let word = m[w]!; word !== 0; word &= word - 1) ids[n++] = w * 32 + (31 - Math.clz32(word & -word));
    }
    if (!this.stripSpace) {
      if (this.ids.size >= MASK_CACHE) this.ids.delete(this.ids.keys().next().value!);
      this.ids.set(this.state, ids);
    }
    return ids;
  }

  private walk(): TokenMask {
    const t = this.trie, g = this.grammar;
    const m = new Uint32Array((t.bytes.length + 31) >>> 5);
    // per depth: the state there and its transition memo
    const at = new Int32Array(t.maxDepth + 1);
    const tr: Int32Array[] = new Array(t.maxDepth + 1);
    const start = this.state;
    at[0] = start;
    tr[0] = g.transitions(start);
    const { byte, depth, skip, tokStart, ids } = t;
    // after BOS the first token's leading space is dropped: the space subtree reads on from the start
    const spaceChild = this.stripSpace ? t.spaceChild : -1;
    const size = t.size;
    let i = 1;
    while (i < size) {
      const d = depth[i]!;
      let s = tr[d - 1]![byte[i]!]!;
      if (i === spaceChild) s = start;
      else if (s === -2) s = g.advance(at[d - 1]!, byte[i]!);
      if (s < 0) { i = skip[i]!; continue; }
      if (at[d] !== s || tr[d] === undefined) { at[d] = s; tr[d] = g.transitions(s); }
      if (i !== spaceChild) for (let k = tokStart[i]!, e = tokStart[i + 1]!; k < e; k++) { const id = ids[k]!; m[id >>> 5]! |= 1 << (id & 31); }
      i++;
    }
    const eogAllowed = this.allowEog && g.state(start).accepting;
    for (const id of this.eog) {
      if (eogAllowed) m[id >>> 5]! |= 1 << (id & 31);
      else m[id >>> 5]! &= ~(1 << (id & 31));
    }
    return m;
  }
}

/** Does the mask allow token id? */
export function maskHas(m: TokenMask, id: number): boolean {
  return ((m[id >>> 5]! >>> (id & 31)) & 1) === 1;
}
