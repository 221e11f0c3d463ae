/**
 * The byte-level matcher: a pushdown recogniser over a grammar's stacks, advanced one byte at a time.
 *
 * A parse position is a node: an element position in the flattened grammar and the node to return to
 * when the current rule ends (its parent), interned so that equal stacks are one number. A matcher
 * state is the set of nodes whose next element is a character set (every live parse, expanded through
 * references and finished rules), a flag for "the whole input so far is a complete sentence", and the
 * UTF-8 bytes read of a character not yet complete (so tokens that split characters are fine: a
 * partial character keeps the parses whose set holds some code point with that prefix). States are
 * interned too, each with a memo of its transitions by byte, so that the vocabulary walk (tokens.ts)
 * costs one array read per trie edge for a state seen before.
 *
 * Left recursion: a rule whose alternatives start with the rule itself (`expr ::= expr "+" term | term`)
 * is rewritten right-recursive before compiling; a left cycle through other rules or through nullable
 * prefixes is a BAD_GRAMMAR naming the rule. A rule that calls itself in tail position (what `x*`
 * becomes) reuses the caller's continuation, so repetitions do not grow the stack.
 */
import { WasmlmError } from '../errors.js';
import type { Alternative, Element, Grammar } from './gbnf.js';

const CHAR = 0, REF = 1, END = 2;
/** Most live parses in one state: an ambiguous grammar past this is an error, not a slowdown. */
export const MAX_PARSES = 4096;
/** Most interned nodes / states: bounds memory over a long generation. */
const MAX_NODES = 1 << 22;
const MAX_MEMOS = 1 << 15;
/** prefix of a partial character whose every completion every kept parse takes */
const ANY = -1;
/** the smallest code point of each UTF-8 length (shorter encodings are overlong) */
const UTF8_MIN = [0, 0, 0x80, 0x800, 0x10000];

export interface MatcherState {
  readonly id: number;
  /** nodes sorted ascending */
  readonly nodes: Int32Array;
  /** the input so far is a complete sentence */
  readonly accepting: boolean;
  /** bits of a partial UTF-8 character, and how many continuation bytes it still needs (0: none) */
  readonly prefix: number;
  readonly need: number;
  /** the partial character's length in bytes */
  readonly len: number;
  /** transitions by byte: -2 not computed, -1 rejected, else the next state's id */
  next: Int32Array | undefined;
}

export class CompiledGrammar {
  private readonly kind: Uint8Array;
  private readonly arg: Int32Array;
  private readonly sets: Uint32Array[];
  private readonly alts: Int32Array[];
  private readonly nPos: number;
  private nodePos = new Int32Array(1024);
  private nodeParent = new Int32Array(1024);
  private nodeCount = 0;
  private readonly nodeIds = new Map<number, number>();
  private readonly states: MatcherState[] = [];
  private readonly stateIds = new Map<string, number>();
  private memos = 0;
  /** the state before any input */
  readonly start: number;

  constructor(grammar: Grammar) {
    const g = eliminateLeftRecursion(grammar);
    checkLeftRecursion(g);
    const kind: number[] = [], arg: number[] = [];
    const sets: Uint32Array[] = [];
    const setIds = new Map<string, number>();
    const alts: number[][] = [];
    for (const rule of g.rules) {
      const starts: number[] = [];
      for (const alt of rule) {
        starts.push(kind.length);
        for (const e of alt) {
          if ('rule' in e) { kind.push(REF); arg.push(e.rule); }
          else {
            const key = e.chars.join(',');
            let s = setIds.get(key);
            if (s === undefined) { s = sets.length; setIds.set(key, s); sets.push(Uint32Array.from(e.chars)); }
            kind.push(CHAR); arg.push(s);
          }
        }
        kind.push(END); arg.push(0);
      }
      alts.push(starts);
    }
    this.kind = Uint8Array.from(kind);
    this.arg = Int32Array.from(arg);
    this.sets = sets;
    this.alts = alts.map((a) => Int32Array.from(a));
    this.nPos = kind.length;
    const out = new Set<number>();
    let accepting = false;
    const seen = new Set<number>();
    for (const a of this.alts[g.root]!) accepting = this.expand(this.node(a, -1), out, seen) || accepting;
    this.start = this.intern(out, accepting, 0, 0, 0);
  }

  state(id: number): MatcherState {
    return this.states[id]!;
  }

  /** No byte can follow: the sentence is complete and cannot go on. */
  finished(id: number): boolean {
    const s = this.states[id]!;
    return s.accepting && s.nodes.length === 0;
  }

  /** The memo of state id's transitions by byte (-2: not computed yet; then call advance). */
  transitions(id: number): Int32Array {
    const s = this.states[id]!;
    if (s.next === undefined) {
      if (this.memos >= MAX_MEMOS) this.dropMemos();
      s.next = new Int32Array(256).fill(-2);
      this.memos++;
    }
    return s.next;
  }

  /** The state after one more byte, or -1 if the grammar rejects it. */
  advance(id: number, byte: number): number {
    const next = this.transitions(id);
    const memo = next[byte]!;
    if (memo !== -2) return memo;
    return (next[byte] = this.step(this.states[id]!, byte));
  }

  /** The state after these bytes (from `id`), or -1. */
  advanceBytes(id: number, bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length && id >= 0; i++) id = this.advance(id, bytes[i]!);
    return id;
  }

  private dropMemos(): void {
    for (const s of this.states) s.next = undefined;
    this.memos = 0;
  }

  private step(s: MatcherState, b: number): number {
    let prefix: number, need: number, len: number;
    if (s.need === 0) {
      if (b < 0x80) return this.complete(s, b, 1);
      if (b >= 0xc2 && b <= 0xdf) { prefix = b & 0x1f; need = 1; len = 2; }
      else if (b >= 0xe0 && b <= 0xef) { prefix = b & 0x0f; need = 2; len = 3; }
      else if (b >= 0xf0 && b <= 0xf4) { prefix = b & 0x07; need = 3; len = 4; }
      else return -1;
    } else {
      if ((b & 0xc0) !== 0x80) return -1;
      need = s.need - 1;
      len = s.len;
      if (s.prefix === ANY) return need === 0 ? this.complete(s, ANY, len) : this.intern(new Set(s.nodes), false, ANY, need, len);
      prefix = (s.prefix << 6) | (b & 0x3f);
      if (need === 0) return this.complete(s, prefix, len);
    }
    // a partial character: keep the parses whose set meets the code points it can still become
    // (its shortest encoding only: no overlong forms, no surrogates, nothing above U+10FFFF)
    const shift = 2 ** (6 * need);
    const from = prefix * shift, to = (prefix + 1) * shift - 1;
    const lo = Math.max(from, UTF8_MIN[len]!), hi = Math.min(to, 0x10ffff);
    if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff)) return -1;
    const kept = new Set<number>();
    let all = lo === from && hi === to && (hi < 0xd800 || lo > 0xdfff);
    for (const n of s.nodes) {
      const set = this.sets[this.arg[this.nodePos[n]!]!]!;
      if (overlaps(set, lo, hi)) {
        kept.add(n);
        if (all && !covers(set, lo, hi)) all = false;
      }
    }
    if (kept.size === 0) return -1;
    // every continuation is a character every kept parse takes: which one no longer matters
    return this.intern(kept, false, all ? ANY : prefix, need, len);
  }

  /** The state after a complete character cp (ANY: one that every parse in s takes). */
  private complete(s: MatcherState, cp: number, len: number): number {
    if (cp !== ANY && ((cp >= 0xd800 && cp <= 0xdfff) || cp < UTF8_MIN[len]!)) return -1;
    const out = new Set<number>();
    const seen = new Set<number>();
    let accepting = false;
    for (const n of s.nodes) {
      const pos = this.nodePos[n]!;
      if (cp !== ANY && !contains(this.sets[this.arg[pos]!]!, cp)) continue;
      accepting = this.expand(this.next(pos, this.nodeParent[n]!), out, seen) || accepting;
    }
    if (out.size === 0 && !accepting) return -1;
    return this.intern(out, accepting, 0, 0, 0);
  }

  /** The node after the element at pos (with this parent): a finished alternative returns to the parent. */
  private next(pos: number, parent: number): number {
    return this.kind[pos + 1] === END ? parent : this.node(pos + 1, parent);
  }

  /**
   * Adds to `out` every node reachable from `start` without reading input whose element is a set;
   * returns whether the empty stack (the whole sentence done) is reachable. -1 is the empty stack.
   */
  private expand(start: number, out: Set<number>, seen: Set<number>): boolean {
    let accepting = false;
    const work = [start];
    while (work.length > 0) {
      const n = work.pop()!;
      if (n === -1) { accepting = true; continue; }
      if (seen.has(n)) continue;
      seen.add(n);
      const pos = this.nodePos[n]!;
      const k = this.kind[pos]!;
      if (k === CHAR) {
        out.add(n);
        if (out.size > MAX_PARSES) {
          throw new WasmlmError('BAD_GRAMMAR', `the grammar is too ambiguous: more than ${MAX_PARSES} parses are alive at once`);
        }
      } else if (k === END) work.push(this.nodeParent[n]!);
      else {
        const cont = this.next(pos, this.nodeParent[n]!);
        for (const a of this.alts[this.arg[pos]!]!) work.push(this.kind[a] === END ? cont : this.node(a, cont));
      }
    }
    return accepting;
  }

  private node(pos: number, parent: number): number {
    const key = (parent + 1) * this.nPos + pos;
    let id = this.nodeIds.get(key);
    if (id !== undefined) return id;
    id = this.nodeCount++;
    if (id >= MAX_NODES) throw new WasmlmError('BAD_GRAMMAR', `the grammar's parse stacks grew past ${MAX_NODES} nodes`);
    if (id >= this.nodePos.length) {
      const p = new Int32Array(this.nodePos.length * 2); p.set(this.nodePos); this.nodePos = p;
      const q = new Int32Array(this.nodeParent.length * 2); q.set(this.nodeParent); this.nodeParent = q;
    }
    this.nodePos[id] = pos;
    this.nodeParent[id] = parent;
    this.nodeIds.set(key, id);
    return id;
  }

  private intern(nodes: Set<number>, accepting: boolean, prefix: number, need: number, len: number): number {
    const sorted = Int32Array.from(nodes).sort();
    const key = `${accepting ? 1 : 0}:${len}:${need}:${prefix}:${sorted.join(',')}`;
    let id = this.stateIds.get(key);
    if (id !== undefined) return id;
    id = this.states.length;
    this.states.push({ id, nodes: sorted, accepting, prefix, need, len, next: undefined });
    this.stateIds.set(key, id);
    return id;
  }
}

function contains(set: Uint32Array, cp: number): boolean {
  for (let i = 0; i < set.length; i += 2) {
    if (cp < set[i]!) return false;
    if (cp <= set[i + 1]!) return true;
  }
  return false;
}

function covers(set: Uint32Array, lo: number, hi: number): boolean {
  for (let i = 0; i < set.length; i += 2) if (set[i]! <= lo && set[i + 1]! >= hi) return true;
  return false;
}

function overlaps(set: Uint32Array, lo: number, hi: number): boolean {
  for (let i = 0; i < set.length; i += 2) if (set[i]! <= hi && set[i + 1]! >= lo) return true;
  return false;
}

/**
 * Direct left recursion, rewritten: A ::= A a1 | ... | b1 | ...  becomes  A ::= b1 A' | ... and
 * A' ::= a1 A' | ... | (empty). The same sentences, right-recursive.
 */
export function eliminateLeftRecursion(g: Grammar): Grammar {
  const names = g.names.slice();
  const rules = g.rules.map((r) => r.slice());
  for (let id = 0; id < g.rules.length; id++) {
    const rule = rules[id]!;
    const isLeft = (alt: Alternative) => alt.length > 0 && 'rule' in alt[0]! && alt[0].rule === id;
    if (!rule.some(isLeft)) continue;
    const tailId = names.length;
    names.push(`${names[id]}_tail`);
    const tail: Element = { rule: tailId };
    const recursive = rule.filter(isLeft).map((alt) => [...alt.slice(1), tail]);
    const bases = rule.filter((alt) => !isLeft(alt)).map((alt) => [...alt, tail]);
    if (bases.length === 0) {
      throw new WasmlmError('BAD_GRAMMAR', `rule '${names[id]}' is left-recursive with no alternative that ends the recursion`);
    }
    rules[id] = bases;
    rules.push([...recursive, []]);
  }
  return { names, rules, root: g.root };
}

/** Left recursion the rewrite leaves (through other rules or nullable prefixes) is an error. */
export function checkLeftRecursion(g: Grammar): void {
  const n = g.rules.length;
  const nullable = new Array<boolean>(n).fill(false);
  for (let changed = true; changed;) {
    changed = false;
    for (let i = 0; i < n; i++) {
      if (nullable[i]) continue;
      if (g.rules[i]!.some((alt) => alt.every((e) => 'rule' in e && nullable[e.rule]))) { nullable[i] = true; changed = true; }
    }
  }
  // leftmost references: A -> B when B can be the first thing A reads
  const left: number[][] = g.rules.map((rule) => {
    const out: number[] = [];
    for (const alt of rule) {
      for (const e of alt) {
        if (!('rule' in e)) break;
        out.push(e.rule);
        if (!nullable[e.rule]) break;
      }
    }
    return out;
  });
  const color = new Uint8Array(n); // 0 new, 1 on the path, 2 done
  const visit = (i: number, path: number[]) => {
    color[i] = 1;
    path.push(i);
    for (const j of left[i]!) {
      if (color[j] === 1) {
        const cycle = path.slice(path.indexOf(j)).map((k) => `'${g.names[k]}'`).concat(`'${g.names[j]}'`).join(' -> ');
        throw new WasmlmError('BAD_GRAMMAR', `rule '${g.names[j]}' is left-recursive (${cycle}); only direct left recursion (A ::= A ...) is rewritten`);
      }
      if (color[j] === 0) visit(j, path);
    }
    path.pop();
    color[i] = 2;
  };
  for (let i = 0; i < n; i++) if (color[i] === 0) visit(i, []);
}
