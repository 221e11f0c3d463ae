/**
 * Structured output while generating: random-weight models at temperature 1 (noise left alone) write
 * JSON that parses and validates (ajv) for every schema and seed, GBNF grammars hold, the generation
 * ends when the value is complete ('stop') or is a prefix when cut ('length'), errors come before any
 * token, chat / chatStream, the first token after BOS, lazy sampling = masked sampling, and the CLI flags.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Sampler } from '../src/generate/sampler.js';
import { CompiledGrammar, parseGbnf, schemaToGbnf, TokenConstraint, vocabTrie } from '../src/grammar/index.js';
import { loadModel, type Model } from '../src/index.js';
import { createTokenizer } from '../src/tokenizer/index.js';
import { ajv, SCHEMAS } from './fixtures-grammar/schemas.js';
import { fixture } from './helpers/fixtures.js';

const DIR = fileURLToPath(new URL('./fixtures-grammar/', import.meta.url));
const enc = new TextEncoder();
const compile = (text: string) => new CompiledGrammar(parseGbnf(text));
const state = (g: CompiledGrammar, text: string) => g.advanceBytes(g.start, enc.encode(text));

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try { await p; } catch (e) { return e as { code?: string; message: string }; }
  throw new Error('expected a rejection');
}

const models: Record<string, Model> = {};
beforeAll(async () => {
  models.stories260K = await loadModel(); // trained, SentencePiece 512, context 512
  models.tiny = await loadModel(fixture('models/llama.gguf')); // random weights, SentencePiece 512, context 128
  models.set3 = await loadModel(fixture('set3/llama.gguf')); // random weights, byte-level BPE 512, ChatML
});

describe('JSON Schema at temperature 1 on random-weight models: always valid', () => {
  const schemas = ['person', 'enumsAndConsts', 'anyOfNullable', 'refs', 'formats', 'numbers', 'oneOfPattern'];
  for (const m of ['tiny', 'set3', 'stories260K']) {
    it(`${m}: ${schemas.length} schemas × 5 seeds`, async () => {
      const model = models[m]!;
      let finished = 0, total = 0;
      for (const name of schemas) {
        const schema = SCHEMAS[name]!;
        const validate = ajv.compile(schema as object);
        const g = compile(schemaToGbnf(schema));
        for (let seed = 1; seed <= 5; seed++) {
          const r = await model.complete('Here is the JSON:', {
            responseFormat: { type: 'json_schema', schema }, temperature: 1, topK: 0, topP: 1, minP: 0, seed, maxTokens: 100,
          });
          total++;
          const where = `${name} seed ${seed}: ${JSON.stringify(r.text)}`;
          if (r.finishReason === 'stop') {
            finished++;
            expect(validate(JSON.parse(r.text)), `${where} ${JSON.stringify(validate.errors)}`).toBe(true);
          } else {
            expect(['length', 'context'], where).toContain(r.finishReason);
            expect(state(g, r.text), `${where} is a prefix`).toBeGreaterThanOrEqual(0);
          }
        }
      }
      // noise takes long to close a value; most still do within 100 tokens
      expect(finished / total).toBeGreaterThan(0.5);
    }, 120_000);
  }

  it('json_object: any JSON object', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = await models.set3!.complete('{', { responseFormat: { type: 'json_object' }, temperature: 1, seed, maxTokens: 110 });
      if (r.finishReason === 'stop') {
        const v = JSON.parse(r.text);
        expect(typeof v === 'object' && v !== null && !Array.isArray(v), r.text).toBe(true);
      } else expect(state(compile(schemaToGbnf({ type: 'object' })), r.text)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('GBNF while generating', () => {
  for (const name of ['chess', 'arithmetic', 'list', 'json_arr', 'english']) {
    it(`${name}.gbnf: every output is a prefix of a sentence, or a sentence when it stops`, async () => {
      const text = readFileSync(`${DIR}${name}.gbnf`, 'utf8');
      const g = compile(text);
      for (let seed = 1; seed <= 4; seed++) {
        const r = await models.tiny!.complete('Once', { grammar: text, temperature: 1, seed, maxTokens: 60 });
        const s = state(g, r.text);
        expect(s, `${name} seed ${seed}: ${JSON.stringify(r.text)}`).toBeGreaterThanOrEqual(0);
        if (r.finishReason === 'stop') expect(g.state(s).accepting).toBe(true);
      }
    });
  }

  it("ends as soon as nothing can follow ('stop'), or at an end token where the sentence is complete", async () => {
    const r = await models.stories260K!.complete('Once upon a time', { grammar: 'root ::= " there was" | " there were"', temperature: 0 });
    expect(r.finishReason).toBe('stop');
    expect([' there was', ' there were']).toContain(r.text);
    const empty = await models.stories260K!.complete('Once upon a time', { grammar: 'root ::= ""', temperature: 1, seed: 1 });
    expect([empty.text, empty.tokens.length, empty.finishReason]).toEqual(['', 0, 'stop']);
    // [a-z ]+ can always go on: it ends with an end-of-generation token (allowed once complete), or by length
    const free = await models.stories260K!.complete('Once upon a time', { grammar: 'root ::= [a-z ]+', temperature: 0, maxTokens: 400 });
    expect(/^[a-z ]+$/.test(free.text)).toBe(true);
    expect(['stop', 'length']).toContain(free.finishReason);
  });

  it("maxTokens cuts the value: 'length', and the text is a prefix", async () => {
    const schema = SCHEMAS.person!;
    const r = await models.tiny!.complete('x', { responseFormat: { type: 'json_schema', schema }, temperature: 1, seed: 3, maxTokens: 4 });
    expect(r.finishReason).toBe('length');
    expect(r.tokens.length).toBe(4);
    expect(state(compile(schemaToGbnf(schema)), r.text)).toBeGreaterThanOrEqual(0);
  });

  it('the first token after BOS: its leading space is dropped by the decoder, and the grammar sees the text without it', async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const r = await models.stories260K!.complete([1], { grammar: 'root ::= "Once" [a-z ]{1,30} "."', temperature: 1, seed, maxTokens: 40 });
      expect(r.text.startsWith('Once'), JSON.stringify(r.text)).toBe(true);
      if (r.finishReason === 'stop') expect(/^Once[a-z ]{1,30}\.$/.test(r.text)).toBe(true);
    }
  });

  it('ignoreEos: no end token is allowed, the value still ends the generation', async () => {
    const r = await models.set3!.complete('a', { grammar: 'root ::= "ab" [0-9]?', temperature: 1, seed: 1, ignoreEos: true, maxTokens: 20 });
    expect(r.text.startsWith('ab')).toBe(true);
    expect(r.tokens.every((id) => id !== 509)).toBe(true);
  });

  it('chat and chatStream (ChatML): valid JSON, streamed pieces are the text', async () => {
    const schema = SCHEMAS.enumsAndConsts!;
    const validate = ajv.compile(schema as object);
    const messages = [{ role: 'user', content: 'Give me a point.' }];
    const opts = { responseFormat: { type: 'json_schema' as const, schema }, temperature: 1, seed: 4, maxTokens: 110 };
    const r = await models.set3!.chat(messages, opts);
    expect(r.finishReason).toBe('stop');
    expect(validate(JSON.parse(r.text))).toBe(true);
    const pieces: string[] = [];
    const it = models.set3!.chatStream(messages, opts);
    let step = await it.next();
    while (!step.done) { pieces.push(step.value); step = await it.next(); }
    expect(pieces.join('')).toBe(r.text);
    expect(step.value.text).toBe(r.text);
  });
});

describe('errors before any token', () => {
  it('BAD_SCHEMA / BAD_GRAMMAR / BAD_ARGUMENT from generate, complete and chat', async () => {
    const m = models.tiny!;
    const bad = await codeOf(m.complete('x', { responseFormat: { type: 'json_schema', schema: { type: 'object', patternProperties: {} } } }));
    expect(bad.code).toBe('BAD_SCHEMA');
    expect(bad.message).toMatch(/#\/patternProperties: unsupported keyword 'patternProperties'/);
    const g = await codeOf(m.generate('x', { grammar: 'root ::= "a"\nroot2 ::= [b' }).next());
    expect(g.code).toBe('BAD_GRAMMAR');
    expect(g.message).toMatch(/line 2, column 11: unterminated character class/);
    expect((await codeOf(m.chat([{ role: 'user', content: 'x' }], { grammar: 'root ::= nothing' }))).code).toBe('BAD_GRAMMAR');
    expect((await codeOf(m.complete('x', { grammar: 'root ::= "a"', responseFormat: { type: 'json_object' } }))).message).toMatch(/not both/);
    expect((await codeOf(m.complete('x', { responseFormat: { type: 'yaml' } as never }))).code).toBe('BAD_ARGUMENT');
    expect((await codeOf(m.complete('x', { responseFormat: { type: 'json_schema' } as never }))).message).toMatch(/needs a schema/);
    expect((await codeOf(m.complete('x', { grammar: 5 as never }))).code).toBe('BAD_ARGUMENT');
    // nothing was evaluated: the model still answers as before
    const a = await m.complete('x', { temperature: 0, maxTokens: 5 });
    expect(a.tokens.length).toBe(5);
  });

  it("responseFormat { type: 'text' } is no constraint", async () => {
    const a = await models.tiny!.complete('x', { temperature: 0, maxTokens: 8 });
    const b = await models.tiny!.complete('x', { temperature: 0, maxTokens: 8, responseFormat: { type: 'text' } });
    expect(b.tokens).toEqual(a.tokens);
  });
});

describe('sampling with a constraint', () => {
  it('lazy (draw, then mask if rejected) and eager (mask first) agree exactly at temperature 0', async () => {
    const tok = models.set3!.tokenizer;
    const g = compile(schemaToGbnf(SCHEMAS.person!));
    let seed = 11;
    const noise = () => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed / 2 ** 32) * 8 - 4; };
    const lazy = new TokenConstraint(g, tok, vocabTrie(tok)), eager = new TokenConstraint(g, tok, vocabTrie(tok));
    eager.lazy = false;
    const sampler = new Sampler({ temperature: 0 });
    for (let step = 0; step < 40 && !lazy.done; step++) {
      const logits = Float32Array.from({ length: tok.vocabSize }, noise);
      const a = sampler.sample(logits.slice(), [], lazy), b = sampler.sample(logits.slice(), [], eager);
      expect(a).toBe(b);
      if (tok.isEog(a)) break;
      lazy.accept(a);
      eager.accept(b);
    }
  });

  it('a grammar the vocabulary cannot write: BAD_GRAMMAR when no token is left, not a hang', () => {
    const tok = createTokenizer({ model: 'llama', tokens: ['<unk>', '<s>', '</s>', 'a', 'b', '\u2581a'] });
    const c = new TokenConstraint(compile('root ::= "a" "c"'), tok, vocabTrie(tok));
    expect(Array.from(c.allowed())).toEqual([3]);
    c.accept(3);
    let err: { code?: string } | undefined;
    try { c.allowed(); } catch (e) { err = e as { code?: string }; }
    expect(err?.code).toBe('BAD_GRAMMAR');
  });
});

describe('CLI: wasmlm run --json-schema FILE / --grammar FILE', () => {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'wasmlm-grammar-'));
  it('prints only the JSON, valid against the schema', () => {
    const file = join(dir, 'schema.json');
    writeFileSync(file, JSON.stringify(SCHEMAS.enumsAndConsts));
    const out = execFileSync(process.execPath, [cli, 'run', 'Hello', '--json-schema', file, '--temperature', '1', '--seed', '2', '-n', '100'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(ajv.validate(SCHEMAS.enumsAndConsts as object, JSON.parse(out))).toBe(true);
    const gfile = join(dir, 'chess.gbnf');
    writeFileSync(gfile, readFileSync(`${DIR}chess.gbnf`));
    const moves = execFileSync(process.execPath, [cli, 'run', '--grammar', gfile, '-t', '1', '--seed', '1', '-n', '30'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(moves.startsWith('1. ')).toBe(true);
  });

  it('a bad schema or grammar file: the error names the file, before the model loads', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ type: 'object', properties: { a: { not: {} } } }));
    const r = spawnSync(process.execPath, [cli, 'run', '--json-schema', file], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${file}: schema #/properties/a/not: unsupported keyword 'not'`);
    const g = join(dir, 'bad.gbnf');
    writeFileSync(g, 'root ::= [a-');
    const r2 = spawnSync(process.execPath, [cli, 'run', '--grammar', g], { encoding: 'utf8' });
    expect(r2.stderr).toMatch(/bad\.gbnf: grammar line 1, column/);
    const r3 = spawnSync(process.execPath, [cli, 'run', '--json-schema', join(dir, 'missing.json')], { encoding: 'utf8' });
    expect(r3.stderr).toContain('missing.json');
  });
});
