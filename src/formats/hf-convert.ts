// `wasmlm convert DIR OUT.gguf [--type T]`: a Hugging Face folder written as the GGUF llama.cpp's
// convert_hf_to_gguf.py writes (its metadata keys, tensor names, q/k permutation, norms + 1, stacked
// experts, tokenizer.ggml.*), optionally quantized (llama-quantize's choice per tensor). One tensor in
// memory at a time.

import { WasmlmError } from '../errors.js';
import { GGUFValueType, type GGUFMetaValue } from './gguf-types.js';
import { writeGGUFFiles, type GGUFSplitOptions } from './gguf-writer.js';
import { openFolder, readJson } from './hf-files.js';
import { ggufTokenizerMetadata } from './hf-tokenizer.js';
import { openHFModel, produceTensor, str } from './hf.js';

export interface ConvertResult {
  /** the files written: one, or the shards of a split (options.split) */
  files: { path: string; bytes: number }[];
  tensors: number;
  arch: string;
}

export async function convertHFFolder(dir: string, outPath: string, options: { type?: string; name?: string; split?: GGUFSplitOptions } = {}): Promise<ConvertResult> {
  const folder = openFolder(dir);
  const model = await openHFModel(folder, { type: options.type });
  try {
    const config = (await readJson(folder, 'config.json'))!;
    if (!model.tokenizerJson) throw new WasmlmError('IO_ERROR', `${folder.description}: no tokenizer.json`);
    const metadata = new Map<string, GGUFMetaValue>();
    const h = model.header.metadata;
    metadata.set('general.architecture', h.get('general.architecture')!);
    metadata.set('general.type', h.get('general.type')!);
    const name = options.name ?? dir.replace(/[\\/]+$/, '').replace(/^.*[\\/]/, '');
    if (name) metadata.set('general.name', str(name));
    for (const [k, v] of h) if (!metadata.has(k)) metadata.set(k, v);
    // the converter's llama vocab writes add_space_prefix (false for byte-level BPE)
    if (h.get('general.architecture')!.value === 'llama') metadata.set('tokenizer.ggml.add_space_prefix', { type: GGUFValueType.BOOL, value: false });
    for (const [k, v] of ggufTokenizerMetadata(model.tokenizerJson, model.tokenizerConfig, config)) metadata.set(k, v);
    const tensors = model.header.tensors.map((info, i) => ({
      name: info.name,
      ne: info.ne,
      type: info.type,
      data: async () => {
        const bytes = new Uint8Array(info.nBytes);
        await produceTensor(model.tensors[i]!, bytes);
        return bytes;
      },
    }));
    const files = await writeGGUFFiles(outPath, metadata, tensors, options.split);
    return { files, tensors: tensors.length, arch: String(h.get('general.architecture')!.value) };
  } catch (e) {
    if (e instanceof WasmlmError && !e.message.startsWith(folder.description)) throw new WasmlmError(e.code, `${folder.description}: ${e.message}`, { cause: e });
    throw e;
  } finally {
    await model.close();
  }
}
