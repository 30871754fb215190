// Embeddings with real nearest-neighbour behaviour, so retrieval can be tested without a GPU:
// a text becomes a hashed bag of its words plus the character trigrams of each word (signed
// feature hashing into `full` buckets, sublinear term frequency), normalised to unit length.
// Texts sharing words land close together; a misspelt word still shares most trigrams. The
// hash is keyed by the model identity, so two adapters embed into different spaces.
import { prng } from "./generation.ts";

const WORD = /[\p{L}\p{N}]+/gu;
const TRIGRAM_WEIGHT = 0.35;

/** FNV-1a, 32 bits. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Feature → weight: each word and each trigram of "^word$". */
function textFeatures(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (f: string, w: number) => counts.set(f, (counts.get(f) ?? 0) + w);
  for (const m of text.toLowerCase().matchAll(WORD)) {
    const word = m[0];
    add(`w:${word}`, 1);
    const padded = `^${word}$`;
    for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, TRIGRAM_WEIGHT);
  }
  for (const [f, c] of counts) counts.set(f, f.startsWith("w:") ? 1 + Math.log(c) : c);
  return counts;
}

/**
 * A unit vector of length `dims` (the first `dims` of `full` buckets, re-normalised, like a
 * Matryoshka model). A text without words falls back to a deterministic random direction.
 */
export function textVector(identity: string, text: string, full: number, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let norm = 0;
  for (const [feature, weight] of textFeatures(text)) {
    const h = fnv1a(`${identity}\u0000${feature}`);
    const bucket = h % full;
    if (bucket >= dims) continue;
    const signed = h & 0x80000000 ? -weight : weight;
    v[bucket] = v[bucket]! + signed;
  }
  for (let i = 0; i < dims; i++) norm += v[i]! * v[i]!;
  if (norm === 0) return unitVector(`${identity}\u0000${text}`, full, dims);
  norm = Math.sqrt(norm);
  for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}

/** A deterministic vector of length `full`, cut to `dims` and scaled to unit length. */
function unitVector(key: string, full: number, dims: number): Float32Array {
  const next = prng(key);
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < full; i++) {
    const x = next() / 0x80000000 - 1; // uniform in [-1, 1)
    if (i < dims) {
      v[i] = x;
      norm += x * x;
    }
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}
