// Types of what TypeScript tests import from conformance.js (plain JavaScript, loaded as it is by every runtime).
export function conformance(wasmlm: unknown, env: Record<string, unknown>): Promise<{ name: string; ok: boolean; detail?: string }[]>;
export const SESSION_CHECK: string;
export const SESSION_FIRST: { temperature: number; maxTokens: number };
export const SESSION_CONTINUE: { temperature: number; maxTokens: number; ignoreEos: boolean };
export function toBase64(bytes: Uint8Array): string;
export function fromBase64(text: string): Uint8Array;
