// The GGUF value and header types (see gguf.ts for the format and how values are read).

export const GGUF_MAGIC = 0x46554747; // "GGUF" as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueType = (typeof GGUFValueType)[keyof typeof GGUFValueType];

const VALUE_TYPE_NAMES = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'];
export function ggufValueTypeName(t: number): string {
  return VALUE_TYPE_NAMES[t] ?? `type ${t}`;
}

/** Byte size of a fixed-size value type (0 for STRING and ARRAY). */
export const GGUF_VALUE_SIZE: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

export type GGUFScalar = number | bigint | boolean | string;
export type GGUFArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GGUFMetaValue[];

export interface GGUFMetaValue {
  type: GGUFValueType;
  value: GGUFScalar | GGUFArray;
  /** item type of an ARRAY */
  itemType?: GGUFValueType;
  /** STRING: the exact bytes, present only when they are not valid UTF-8 */
  raw?: Uint8Array;
  /** ARRAY of STRING: exact bytes of the items that are not valid UTF-8, by index */
  rawItems?: Map<number, Uint8Array>;
}

export interface GGUFTensorInfo {
  name: string;
  /** dims, ne[0] fastest */
  ne: number[];
  /** ggml type id */
  type: number;
  typeName: string;
  /** relative to the data section */
  offset: number;
  nBytes: number;
  nElements: number;
}

export interface GGUFHeader {
  version: number;
  alignment: number;
  metadata: Map<string, GGUFMetaValue>;
  tensors: GGUFTensorInfo[];
  /** absolute byte offset of the data section */
  dataOffset: number;
  fileSize: number | undefined;
  /** what the bytes came from (the stream's description), for error messages */
  source?: string;
}
