// Splitting extracted text into overlapping chunks, sized in tokens as OpenAI's
// chunking_strategy counts them. Tokens are approximated by words (a run of non-space
// characters with the space before it), so no tokenizer has to match every tenant's model;
// joining a chunk's tokens gives back the exact text it covers.
import { z } from "zod";

const AUTO_MAX_TOKENS = 800;
const AUTO_OVERLAP_TOKENS = 400;

export const ChunkingStrategyParam = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto") }).strict(),
  z
    .object({
      type: z.literal("static"),
      static: z
        .object({
          max_chunk_size_tokens: z.number().int().min(100).max(4096),
          chunk_overlap_tokens: z.number().int().min(0),
        })
        .strict()
        .refine((s) => s.chunk_overlap_tokens <= s.max_chunk_size_tokens / 2, {
          message: "chunk_overlap_tokens must not exceed half of max_chunk_size_tokens",
          path: ["chunk_overlap_tokens"],
        }),
    })
    .strict(),
]);
export type ChunkingStrategyParam = z.infer<typeof ChunkingStrategyParam>;

/** What a file stores and reports: always the static form, as OpenAI reports `auto`. */
export type ChunkingStrategy = {
  type: "static";
  static: { max_chunk_size_tokens: number; chunk_overlap_tokens: number };
};

export function resolveChunking(p: ChunkingStrategyParam | undefined): ChunkingStrategy {
  if (!p || p.type === "auto") {
    return {
      type: "static",
      static: { max_chunk_size_tokens: AUTO_MAX_TOKENS, chunk_overlap_tokens: AUTO_OVERLAP_TOKENS },
    };
  }
  return { type: "static", static: { ...p.static } };
}

const TOKEN = /\s*\S+/g;

export function countTokens(text: string): number {
  return text.match(TOKEN)?.length ?? 0;
}

/** Chunks of at most max tokens, each starting `max - overlap` tokens after the previous one. */
export function chunkText(text: string, strategy: ChunkingStrategy): string[] {
  const { max_chunk_size_tokens: max, chunk_overlap_tokens: overlap } = strategy.static;
  const tokens = text.match(TOKEN) ?? [];
  const out: string[] = [];
  const step = Math.max(1, max - overlap);
  for (let start = 0; start < tokens.length; start += step) {
    out.push(
      tokens
        .slice(start, start + max)
        .join("")
        .trim(),
    );
    if (start + max >= tokens.length) break;
  }
  return out.filter((c) => c.length > 0);
}
