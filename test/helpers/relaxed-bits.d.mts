/** What relaxed-bits.mjs finds in one engine (see there). */
export interface Bits { fast: number; cases: number; mismatches: string[] }
export function relaxedBits(builds: { plain: ArrayLike<number>; relaxed: ArrayLike<number> }): Promise<Bits>;
