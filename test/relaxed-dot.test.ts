/**
 * The relaxed-SIMD build's two dot forms (weights/act.ts dotAddFast): where the engine lowers
 * i32x4.relaxed_dot_i8x16_i7x16_add_s to x86 VNNI (V8 15: Deno 2.9, Chromium 156) Q8_0 and Q4_0 run the fused
 * i32 dot; elsewhere (Node 22's V8 12.4) the i16 relaxed dot. Each engine runs test/helpers/relaxed-bits.mjs:
 * Q8_0 (with −128 weights) and Q4_0 matmuls must equal the plain build's bit for bit, whichever form runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, launchChromium, skipBrowser, type Browser } from './helpers/chromium.js';
import { node22 } from './helpers/install.js';
import { relaxedBits, type Bits } from './helpers/relaxed-bits.mjs';
import { loadKernels, RELAXED_WASM_PATH, WASM_PATH } from './helpers/wasm.js';


const script = fileURLToPath(new URL('./helpers/relaxed-bits.mjs', import.meta.url));
const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
const run = (cmd: string, args: string[]): Bits => JSON.parse(execFileSync(cmd, [...args, script], { encoding: 'utf8', timeout: 120_000 })) as Bits;
// the CPU's VNNI (x86 Linux): where V8 15 lowers the fused dot to vpdpbusd
const cpuVnni = (() => { try { return /\bavx(512)?_vnni\b/.test(readFileSync('/proc/cpuinfo', 'utf8')); } catch { return false; } })();

describe('relaxed-SIMD dot forms, per engine', () => {
  it('the plain build has no fused form (dot_add_fast() = 0)', () => {
    const { k } = loadKernels(16, WASM_PATH);
    expect((k as unknown as { dot_add_fast(): number }).dot_add_fast()).toBe(0);
  });

  it('Node 22 (V8 12.4: no fused dot): Q8_0 and Q4_0 bit-identical to the plain build', () => {
    const r = run(node22(), []);
    expect(r.fast).toBe(0);
    expect(r.cases).toBe(48);
    expect(r.mismatches).toEqual([]);
  }, 600_000);

  it.skipIf(!existsSync(deno))('Deno (V8 15): the fused dot on a VNNI CPU; Q8_0 and Q4_0 bit-identical to the plain build', () => {
    const r = run(deno, ['run', '--allow-read']);
    expect(r.fast).toBe(cpuVnni ? 1 : 0);
    expect(r.cases).toBe(48);
    expect(r.mismatches).toEqual([]);
  });
});

describe.skipIf(skipBrowser)(browserSuite('relaxed-SIMD dot forms, Chromium'), () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); }, 120_000);
  afterAll(async () => { await browser?.close(); });

  it('Chromium: the fused dot on a VNNI CPU; Q8_0 and Q4_0 bit-identical to the plain build', async () => {
    const page = await browser.newPage();
    const r = await page.evaluate(relaxedBits, { plain: [...readFileSync(WASM_PATH)], relaxed: [...readFileSync(RELAXED_WASM_PATH)] });
    expect(r.fast).toBe(cpuVnni ? 1 : 0);
    expect(r.cases).toBe(48);
    expect(r.mismatches).toEqual([]);
  }, 120_000);
});
