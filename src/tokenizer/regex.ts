/**
 * Pre-tokenizer patterns are written for Oniguruma (HF tokenizers, Ruby syntax) and its Unicode
 * semantics. translateRegex rewrites one into a JavaScript RegExp (flags 'gu') that matches the
 * same strings:
 *
 *   \s \S        Unicode White_Space (JS \s also has U+FEFF and lacks U+0085)
 *   \d \w \h \b  Unicode decimal digits / word characters / hex digits / word boundary
 *   .            any character but '\n' (JS also excludes '\r', U+2028, U+2029)
 *   ^ $          line anchors (Ruby: always multi-line, lines end at '\n' only)
 *   \A \z \Z     absolute anchors
 *   (?i:...)     case-insensitive group: ASCII letters become [xX] (plus 'ſ' for s, 'K' for k,
 *                Unicode's simple case folding onto ASCII); node 20 has no (?i:) modifier
 *   X*+ X++ X?+  possessive quantifiers and (?>...) atomic groups: (?=(X*))\k<n> (JS has
 *                neither; a lookahead is atomic)
 *   X{n,m}+      Ruby reads this as (?:X{n,m})+, not possessive
 *   \x{HHHH}     code point escape; \p{Han} etc. are scripts; POSIX [:alpha:] classes
 *   { } ]        literal when they do not form a quantifier / class
 *
 * Unsupported constructs (class intersection &&, nested classes, back-references, \G, \K) throw
 * WasmlmError BAD_TOKENIZER naming the pattern.
 *
 * JavaScript regexes backtrack, and a pattern from a file can take exponential time on a short
 * text ((a+)+$ on 'aaa…a!'); RegExp has no time limit and runs on the caller's thread. So
 * patterns that can backtrack exponentially are rejected (BAD_TOKENIZER): a repeated group
 * (*, +, {n} or {n,m} with n or m > 1) whose body has a variable repetition (*, +, {1,3}; not ?
 * or {3}), or that has alternatives other than literals with distinct first characters
 * ((a|aa)+). Real pre-tokenizer patterns repeat single characters and classes only.
 */
import { WasmlmError } from '../errors.js';

const WS = '\\p{White_Space}';
const NOT_WS = '\\P{White_Space}';
const WORD_SET = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
const WORD = `[${WORD_SET}]`;
const NOT_WORD = `[^${WORD_SET}]`;

/** ASCII letter -> the characters that case-fold to it. */
function foldSet(c: string): string {
  const lo = c.toLowerCase();
  const up = c.toUpperCase();
  let s = lo + up;
  if (lo === 's') s += '\u017f';
  if (lo === 'k') s += '\u212a';
  return s;
}

const POSIX: Record<string, string> = {
  alpha: '\\p{Alphabetic}',
  digit: '\\p{Nd}',
  alnum: '\\p{Alphabetic}\\p{Nd}',
  upper: '\\p{Uppercase}',
  lower: '\\p{Lowercase}',
  space: WS,
  blank: '\\t\\p{Zs}',
  punct: '\\p{P}$+<=>^`|~',
  cntrl: '\\p{Cc}',
  xdigit: '0-9A-Fa-f',
  word: WORD_SET,
  graph: '\\P{White_Space}', // approximation: visible characters
  print: '\\P{Cc}',
};

const cache = new Map<string, RegExp>();

/**
 * The JavaScript RegExp (flags 'gu') for an Oniguruma pattern; `where` names the field it comes
 * from in error messages.
 */
export function translateRegex(pattern: string, where = 'pre-tokenizer'): RegExp {
  let re = cache.get(pattern);
  if (re === undefined) {
    const source = new Translator(pattern, where).run();
    try {
      re = new RegExp(source, 'gu');
    } catch (e) {
      throw new WasmlmError('BAD_TOKENIZER', `${where} regex ${JSON.stringify(pattern)} is not valid: ${(e as Error).message}`, { cause: e });
    }
    cache.set(pattern, re);
  }
  return new RegExp(re.source, 'gu'); // a fresh object: lastIndex is per use
}

class Translator {
  private i = 0;
  private out = '';
  private groups = 0;
  /** case-insensitivity per open group, innermost last */
  private caseStack: boolean[] = [false];
  /** out offset where each open group's text starts (for quantifiers on the group) */
  private openAt: number[] = [];
  /** for each open group: the suffix to append when it closes */
  private closeWith: string[] = [];
  /** out offset where the last complete atom starts, -1 when none */
  private atomStart = -1;
  /** per open group (the whole pattern first): whether its body repeats something, and where it starts in p */
  private bodies: { repeats: boolean; from: number }[] = [{ repeats: false, from: 0 }];
  /** the group that closed last, when it is the last atom: its body's facts */
  private lastGroup: { repeats: boolean; from: number; to: number } | null = null;

  constructor(private readonly p: string, private readonly where: string) {}

  private fail(what: string): never {
    this.reject(`${what} is not supported`);
  }

  private reject(why: string): never {
    throw new WasmlmError('BAD_TOKENIZER', `${this.where} regex ${JSON.stringify(this.p)}: ${why}`);
  }

  private get ci(): boolean {
    return this.caseStack[this.caseStack.length - 1]!;
  }

  run(): string {
    const p = this.p;
    while (this.i < p.length) {
      const c = p[this.i]!;
      switch (c) {
        case '\\': this.escape(); break;
        case '[': this.atom(this.charClass()); break;
        case '(': this.openGroup(); break;
        case ')': this.closeGroup(); break;
        case '|': this.i++; this.out += '|'; this.atomStart = -1; break;
        case '.': this.i++; this.atom('[^\\n]'); break;
        case '^': this.i++; this.out += '(?<=^|\\n)'; this.atomStart = -1; break;
        case '$': this.i++; this.out += '(?=\\n|$)'; this.atomStart = -1; break;
        case '*': case '+': case '?': this.quantifier(c); break;
        case '{': {
          const q = /^\{(\d+)(,(\d*))?\}|^\{,(\d+)\}/.exec(p.slice(this.i));
          if (q === null) { this.i++; this.atom('\\{'); break; }
          this.i += q[0].length;
          const js = q[4] !== undefined ? `{0,${q[4]}}` : q[0];
          this.applyQuantifier(js);
          break;
        }
        case '}': this.i++; this.atom('\\}'); break;
        case ']': this.i++; this.atom('\\]'); break;
        default: {
          const cp = p.codePointAt(this.i)!;
          const ch = String.fromCodePoint(cp);
          this.i += ch.length;
          this.atom(this.literal(ch));
        }
      }
    }
    if (this.openAt.length > 0) this.fail('an unclosed group');
    return this.out;
  }

  private atom(text: string): void {
    this.atomStart = this.out.length;
    this.out += text;
    this.lastGroup = null;
  }

  /**
   * A quantifier that repeats (max > 1) is being applied to the last atom: reject it when the
   * atom is a group whose matches can be split in exponentially many ways, else note that the
   * enclosing group repeats something.
   */
  private checkRepeat(q: string, variable: boolean): void {
    const g = this.lastGroup;
    if (g !== null) {
      const body = this.p.slice(g.from, g.to);
      if (g.repeats) this.reject(`'${q}' repeats the group (${body}), which itself repeats: matching can take exponential time, so the pattern is rejected`);
      if (!distinctLiteralAlternatives(body)) {
        this.reject(`'${q}' repeats the alternatives (${body}), which can match the same text: matching can take exponential time, so the pattern is rejected`);
      }
    }
    if (variable) this.bodies[this.bodies.length - 1]!.repeats = true;
  }

  /** A literal character outside a class. */
  private literal(ch: string): string {
    if (this.ci && /^[A-Za-z]$/.test(ch)) return `[${foldSet(ch)}]`;
    if (/^[\^$\\.*+?()[\]{}|/]$/.test(ch)) return '\\' + ch;
    return ch;
  }

  private quantifier(q: string): void {
    this.i++;
    this.applyQuantifier(q);
  }

  private applyQuantifier(q: string): void {
    const p = this.p;
    if (this.atomStart < 0) this.fail(`a quantifier '${q}' with nothing to repeat`);
    const start = this.atomStart;
    const next = p[this.i];
    if (repeats(q)) this.checkRepeat(q, varies(q));
    if (q.startsWith('{')) {
      // Ruby: X{n,m}+ is (?:X{n,m})+ ; X{n,m}? is lazy
      if (next === '?') { this.i++; this.out += q + '?'; return; }
      this.out += q;
      if (next === '+' || next === '*') {
        if (varies(q)) this.reject(`'${q}${next}' repeats a repetition: matching can take exponential time, so the pattern is rejected`);
        this.i++;
        this.out = this.out.slice(0, start) + `(?:${this.out.slice(start)})` + next;
      }
      return;
    }
    if (next === '+') {
      // possessive: match as much as X can, never give it back
      this.i++;
      const body = this.out.slice(start) + q;
      const name = `p${this.groups++}`;
      this.out = this.out.slice(0, start) + `(?=(?<${name}>${body}))\\k<${name}>`;
      this.atomStart = -1;
      return;
    }
    this.out += q;
    if (next === '?') { this.i++; this.out += '?'; }
  }

  private openGroup(): void {
    const p = this.p;
    const rest = p.slice(this.i);
    let open: string;
    let close = ')';
    let ci = this.ci;
    let m: RegExpExecArray | null;
    if (rest.startsWith('(?#')) {
      const end = p.indexOf(')', this.i);
      if (end < 0) this.fail('an unclosed comment');
      this.i = end + 1;
      return;
    } else if (rest.startsWith('(?:') || rest.startsWith('(?=') || rest.startsWith('(?!')) {
      open = rest.slice(0, 3);
      this.i += 3;
    } else if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      open = rest.slice(0, 4);
      this.i += 4;
    } else if (rest.startsWith('(?>')) {
      const name = `a${this.groups++}`;
      open = `(?=(?<${name}>`;
      close = `))\\k<${name}>`;
      this.i += 3;
    } else if ((m = /^\(\?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest)) !== null) {
      open = `(?<${m[1]}>`;
      this.i += m[0].length;
    } else if ((m = /^\(\?([imx]*)(?:-([imx]*))?(:|\))/.exec(rest)) !== null) {
      if ((m[1] ?? '').includes('x') || (m[1] ?? '').includes('m')) this.fail(`the option group ${m[0]}`);
      if ((m[1] ?? '').includes('i')) ci = true;
      if ((m[2] ?? '').includes('i')) ci = false;
      this.i += m[0].length;
      if (m[3] === ')') {
        // (?i) switches the option for the rest of the enclosing group
        this.caseStack[this.caseStack.length - 1] = ci;
        return;
      }
      open = '(?:';
    } else if (rest.startsWith('(?')) {
      this.fail(`the group syntax ${JSON.stringify(rest.slice(0, 4))}`);
    } else {
      open = '(';
      this.i += 1;
    }
    this.openAt.push(this.out.length);
    this.closeWith.push(close);
    this.caseStack.push(ci);
    this.bodies.push({ repeats: false, from: this.i });
    this.out += open;
    this.atomStart = -1;
    this.lastGroup = null;
  }

  private closeGroup(): void {
    this.i++;
    const start = this.openAt.pop();
    if (start === undefined) this.fail('an unbalanced )');
    this.out += this.closeWith.pop()!;
    this.caseStack.pop();
    this.atomStart = start;
    const body = this.bodies.pop()!;
    this.lastGroup = { repeats: body.repeats, from: body.from, to: this.i - 1 };
    if (body.repeats) this.bodies[this.bodies.length - 1]!.repeats = true;
  }

  /** An escape outside a class. */
  private escape(): void {
    const p = this.p;
    const c = p[this.i + 1];
    if (c === undefined) this.fail('a trailing backslash');
    this.i += 2;
    switch (c) {
      case 's': this.atom(WS); return;
      case 'S': this.atom(NOT_WS); return;
      case 'd': this.atom('\\p{Nd}'); return;
      case 'D': this.atom('\\P{Nd}'); return;
      case 'w': this.atom(WORD); return;
      case 'W': this.atom(NOT_WORD); return;
      case 'h': this.atom('[0-9A-Fa-f]'); return;
      case 'H': this.atom('[^0-9A-Fa-f]'); return;
      case 'b': this.out += `(?:(?<=${WORD})(?!${WORD})|(?<!${WORD})(?=${WORD}))`; this.atomStart = -1; return;
      case 'B': this.out += `(?:(?<=${WORD})(?=${WORD})|(?<!${WORD})(?!${WORD}))`; this.atomStart = -1; return;
      case 'A': this.out += '^'; this.atomStart = -1; return;
      case 'z': this.out += '$'; this.atomStart = -1; return;
      case 'Z': this.out += '(?=\\n?$)'; this.atomStart = -1; return;
      case 'G': case 'K': case 'R': case 'X': case 'g': case 'k': this.fail(`the escape \\${c}`);
    }
    if (/[1-9]/.test(c)) this.fail(`the back-reference \\${c}`);
    this.i -= 2;
    let e = this.charEscape(false);
    if (e === '\\-') e = '-';
    this.atom(e.startsWith('\\p') || e.startsWith('\\P') || !this.ci || e.length !== 1 || !/[A-Za-z]/.test(e)
      ? e
      : `[${foldSet(e)}]`);
  }

  /**
   * An escape that stands for one character or one property (usable inside and outside a class);
   * this.i is at the backslash. Returns JS source.
   */
  private charEscape(inClass: boolean): string {
    const p = this.p;
    const c = p[this.i + 1]!;
    this.i += 2;
    switch (c) {
      case 'n': return '\\n';
      case 'r': return '\\r';
      case 't': return '\\t';
      case 'f': return '\\f';
      case 'v': return '\\v';
      case 'a': return '\\x07';
      case 'e': return '\\x1B';
      case '0': {
        const m = /^[0-7]{0,2}/.exec(p.slice(this.i))![0];
        this.i += m.length;
        return `\\u{${parseInt('0' + m, 8).toString(16)}}`;
      }
      case 'x': {
        let m = /^\{([0-9A-Fa-f]{1,8})\}/.exec(p.slice(this.i));
        if (m !== null) { this.i += m[0].length; return `\\u{${m[1]}}`; }
        m = /^[0-9A-Fa-f]{1,2}/.exec(p.slice(this.i));
        if (m === null) this.fail('\\x without hex digits');
        this.i += m[0].length;
        return `\\u{${m[0]}}`;
      }
      case 'u': {
        const m = /^[0-9A-Fa-f]{4}/.exec(p.slice(this.i));
        if (m === null) this.fail('\\u without 4 hex digits');
        this.i += 4;
        return `\\u{${m[0]}}`;
      }
      case 'p': case 'P': {
        const m = /^\{(\^?)([A-Za-z_ =&-]+)\}/.exec(p.slice(this.i));
        if (m === null) this.fail(`\\${c} without a {property}`);
        this.i += m[0].length;
        const neg = (c === 'P') !== (m[1] === '^');
        return `\\${neg ? 'P' : 'p'}{${propertyName(m[2]!, this.p)}}`;
      }
    }
    if (inClass) {
      switch (c) {
        case 's': return WS;
        case 'd': return '\\p{Nd}';
        case 'w': return WORD_SET;
        case 'h': return '0-9A-Fa-f';
        case 'S': case 'D': case 'W': case 'H': this.fail(`\\${c} inside a character class`);
      }
    }
    if (/[A-Za-z0-9]/.test(c)) this.fail(`the escape \\${c}`);
    // an escaped symbol is that symbol
    const cp = p.codePointAt(this.i - 1)!;
    const ch = String.fromCodePoint(cp);
    this.i += ch.length - 1;
    return /^[\^$\\.*+?()[\]{}|/-]$/.test(ch) ? '\\' + ch : ch;
  }

  /** [...] -> JS class source. */
  private charClass(): string {
    const p = this.p;
    this.i++; // [
    let out = '[';
    if (p[this.i] === '^') { out += '^'; this.i++; }
    let first = true;
    /** ASCII letters and letter ranges seen, for case-insensitive classes */
    const extra: string[] = [];
    let prevChar: string | null = null; // last single character (for ranges)
    for (;;) {
      if (this.i >= p.length) this.fail('an unclosed character class');
      const c = p[this.i]!;
      if (c === ']' && !first) { this.i++; break; }
      first = false;
      if (c === '[') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(this.i));
        if (m === null) {
          // a nested class is a union with the outer one: [a[bc]] = [abc]
          const inner = this.charClass();
          if (inner.startsWith('[^')) this.fail('a negated nested character class');
          out += inner.slice(1, -1);
          prevChar = null;
          continue;
        }
        const set = Object.hasOwn(POSIX, m[2]!) ? POSIX[m[2]!] : undefined;
        if (set === undefined || m[1] === '^') this.fail(`the POSIX class [:${m[1]}${m[2]}:]`);
        out += set;
        this.i += m[0].length;
        prevChar = null;
        continue;
      }
      if (c === '&' && p[this.i + 1] === '&') this.fail('character class intersection (&&)');
      if (c === '-' && prevChar !== null && p[this.i + 1] !== ']' && this.i + 1 < p.length) {
        // a range prevChar-next
        this.i++;
        let hi: string;
        if (p[this.i] === '\\') {
          hi = this.charEscape(true);
          if (hi.startsWith('\\p') || hi.startsWith('\\P') || hi.length > 12) this.fail('a range ending in a set');
        } else {
          const ch = String.fromCodePoint(p.codePointAt(this.i)!);
          this.i += ch.length;
          hi = /^[\\\]\[^-]$/.test(ch) ? '\\' + ch : ch;
        }
        out += '-' + hi;
        if (this.ci) extra.push(...foldRange(prevChar, hi));
        prevChar = null;
        continue;
      }
      if (c === '\\') {
        const e = this.charEscape(true);
        out += e;
        prevChar = isSingleChar(e) ? e : null;
        if (this.ci && prevChar !== null && /^[A-Za-z]$/.test(prevChar)) extra.push(foldSet(prevChar));
        continue;
      }
      const ch = String.fromCodePoint(p.codePointAt(this.i)!);
      this.i += ch.length;
      const lit = /^[\\\]\[^-]$/.test(ch) ? '\\' + ch : ch;
      out += lit;
      prevChar = lit;
      if (this.ci && /^[A-Za-z]$/.test(ch)) extra.push(foldSet(ch));
    }
    return out + extra.join('') + ']';
  }
}

/** Whether a quantifier allows a count other than its minimum, and more than one (*, +, {1,3}, {2,}; not ?, {3}). */
function varies(q: string): boolean {
  if (q === '*' || q === '+') return true;
  const m = /^\{(\d*)(,(\d*))?\}$/.exec(q);
  if (m === null || m[2] === undefined) return false;
  return m[3] === '' || (Number(m[3]) > 1 && Number(m[3]) > Number(m[1] || 0));
}

/** Whether a quantifier allows more than one repetition. */
function repeats(q: string): boolean {
  if (q === '*' || q === '+') return true;
  if (q === '?') return false;
  const m = /^\{(\d*)(,(\d*))?\}$/.exec(q);
  if (m === null) return true;
  if (m[2] === undefined) return Number(m[1]) > 1;
  return m[3] === '' || Number(m[3]) > 1;
}

/**
 * Whether a group body (Oniguruma source) is safe to repeat as far as alternation goes: no
 * top-level '|', or every alternative a literal (letters, digits, spaces, escaped symbols,
 * \r \n \t) with a first character no other alternative starts with.
 */
function distinctLiteralAlternatives(body: string): boolean {
  const alts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') { i++; continue; }
    if (c === '[') {
      // skip a class (nested brackets counted)
      let d = 1;
      for (i++; i < body.length && d > 0; i++) {
        if (body[i] === '\\') i++;
        else if (body[i] === '[') d++;
        else if (body[i] === ']') d--;
      }
      i--;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) { alts.push(body.slice(from, i)); from = i + 1; }
  }
  if (alts.length === 0) return true;
  alts.push(body.slice(from));
  const firsts = new Set<string>();
  for (const a of alts) {
    const m = /^(?:[^\\()[\]{}|.*+?^$]|\\[rnt]|\\[^A-Za-z0-9])+$/u.exec(a);
    if (m === null) return false;
    const first = a[0] === '\\' ? a.slice(0, 2) : String.fromCodePoint(a.codePointAt(0)!);
    if (firsts.has(first)) return false;
    firsts.add(first);
  }
  return true;
}

function isSingleChar(e: string): boolean {
  return !e.startsWith('\\p') && !e.startsWith('\\P') && (e.length === 1 || /^\\(u\{[0-9A-Fa-f]+\}|[nrtfv]|x[0-9A-Fa-f]{2}|\W)$/.test(e));
}

function charOf(e: string): number {
  if (e.length === 1) return e.charCodeAt(0);
  const m = /^\\u\{([0-9A-Fa-f]+)\}$/.exec(e);
  if (m) return parseInt(m[1]!, 16);
  if (/^\\\W$/.test(e)) return e.charCodeAt(1);
  return -1;
}

/** The other-case counterparts of the ASCII letters in lo..hi, as class source. */
function foldRange(lo: string, hi: string): string[] {
  const a = charOf(lo);
  const b = charOf(hi);
  if (a < 0 || b < 0) return [];
  const out: string[] = [];
  for (const [from, to, delta] of [[0x61, 0x7a, -32], [0x41, 0x5a, 32]] as const) {
    const x = Math.max(a, from);
    const y = Math.min(b, to);
    if (x <= y) out.push(`${String.fromCharCode(x + delta)}-${String.fromCharCode(y + delta)}`);
  }
  if (a <= 0x73 && b >= 0x73 || a <= 0x53 && b >= 0x53) out.push('\u017f');
  if (a <= 0x6b && b >= 0x6b || a <= 0x4b && b >= 0x4b) out.push('\u212a');
  return out;
}

const GC_OK = new Map<string, boolean>();

/** An Oniguruma property name as JS: general categories and binary properties as is, else a script. */
function propertyName(name: string, pattern: string): string {
  const n = name.replace(/[ _-]/g, '');
  const aliases: Record<string, string> = { Alpha: 'Alphabetic', Space: 'White_Space', Punct: 'P' };
  const candidates = [aliases[n] ?? name, n, `Script=${name}`, `Script=${n}`];
  for (const cand of candidates) {
    let ok = GC_OK.get(cand);
    if (ok === undefined) {
      try {
        new RegExp(`\\p{${cand}}`, 'u');
        ok = true;
      } catch {
        ok = false;
      }
      GC_OK.set(cand, ok);
    }
    if (ok) return cand;
  }
  throw new WasmlmError('BAD_TOKENIZER', `regex ${JSON.stringify(pattern)}: unknown Unicode property \\p{${name}}`);
}
