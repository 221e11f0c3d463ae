/**
 * Stop strings over a stream of text pieces: text is held back only while it could still be the
 * start of a stop string, and nothing after a stop string is emitted.
 */
export class StopMatcher {
  private pending = '';
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Feed a piece; returns the text that is safe to emit and whether a stop string was found. */
  push(piece: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text: piece, stopped: false };
    this.pending += piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      const text = this.pending.slice(0, cut);
      this.pending = '';
      return { text, stopped: true };
    }
    // keep the longest tail that is a prefix of some stop string
    let hold = 0;
    for (let len = Math.min(this.longest - 1, this.pending.length); len > 0; len--) {
      const tail = this.pending.slice(this.pending.length - len);
      if (this.stops.some((s) => s.startsWith(tail))) { hold = len; break; }
    }
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stopped: false };
  }

  /** The end of the stream: whatever was held back. */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }
}
