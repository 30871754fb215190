// Deterministic "model output": the text is drawn from a fixed vocabulary by a PRNG seeded with
// (adapter identity, prompt, sampling seed), so a test can tell which adapter's weights served a
// request, and the same request always yields the same text. Every emitted piece is exactly one
// token under tokenizer.ts, so completion_tokens is the number of pieces generated.
import { createHash } from "node:crypto";

// Words of at most 4 letters: one token each, with or without a leading space.
const WORDS = (
  "the of and to in is was for on are as with his they at be this from have or one had by word but " +
  "not what all were we when your can said each she do how will up then them so some her make like " +
  "him into time has look two more go see way who oil its now find long down day did get come made " +
  "may part over new sound take only work know place year live me back give most very after our just " +
  "name good man think say great help low line turn move fact sun fine road map rain rule pull cold " +
  "town fish gold star lake moon rock tree farm wind blue dark deep"
)
  .split(" ")
  .filter((w) => w.length <= 4);

export type Generation = {
  /** Text emitted per generated token, after stop-string truncation (the last may be cut short). */
  pieces: string[];
  text: string;
  completionTokens: number;
  finishReason: "stop" | "length";
  /** The stop string that ended generation, as vLLM reports it; null otherwise. */
  stopReason: string | null;
};

export type GenerateInput = {
  /** sha256 of the adapter's weights, or "base". */
  identity: string;
  prompt: string;
  /** "greedy" when temperature is 0 (the seed cannot matter), else the seed or "none". */
  seedKey: string;
  maxTokens: number;
  stop: string[];
  /** vLLM's ignore_eos: keep generating until max_tokens. */
  ignoreEos: boolean;
};

export function generate(input: GenerateInput): Generation {
  const next = prng(`${input.identity}\u0000${input.seedKey}\u0000${input.prompt}`);
  // Where the "model" would emit end-of-sequence: 8..48 tokens in.
  const natural = input.ignoreEos ? Number.POSITIVE_INFINITY : 8 + (next() % 41);
  const limit = Math.min(natural, input.maxTokens);
  const longestStop = input.stop.reduce((m, s) => Math.max(m, s.length), 0);
  const pieces: string[] = [];
  let text = "";
  let afterPeriod = false;
  for (let i = 0; i < limit; i++) {
    let piece: string;
    if (i > 0 && !afterPeriod && next() % 9 === 0) {
      piece = ".";
      afterPeriod = true;
    } else {
      const word = WORDS[next() % WORDS.length]!;
      piece = i === 0 ? word : ` ${word}`;
      afterPeriod = false;
    }
    const before = text.length;
    text += piece;
    if (longestStop > 0) {
      const hit = findStop(text, input.stop, Math.max(0, before - longestStop + 1));
      if (hit) {
        pieces.push(piece);
        return {
          pieces: truncatePieces(pieces, hit.index),
          text: text.slice(0, hit.index),
          completionTokens: i + 1,
          finishReason: "stop",
          stopReason: hit.stop,
        };
      }
    }
    pieces.push(piece);
  }
  return {
    pieces,
    text,
    completionTokens: pieces.length,
    finishReason: limit === natural ? "stop" : "length",
    stopReason: null,
  };
}

/** Cuts the pieces so they add up to the first `length` characters (a stop may span pieces). */
function truncatePieces(pieces: string[], length: number): string[] {
  let left = length;
  return pieces.map((p) => {
    const kept = p.slice(0, Math.max(0, left));
    left -= p.length;
    return kept;
  });
}

function findStop(text: string, stops: string[], from: number): { index: number; stop: string } | undefined {
  let best: { index: number; stop: string } | undefined;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s, from);
    if (i >= 0 && (!best || i < best.index)) best = { index: i, stop: s };
  }
  return best;
}

/** A small, fast PRNG (mulberry32) seeded from a sha256 of the key. */
export function prng(key: string): () => number {
  let a = createHash("sha256").update(key).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}
