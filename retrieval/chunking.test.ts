import { describe, expect, it } from "vitest";
import { ChunkingStrategyParam, chunkText, countTokens, resolveChunking } from "./chunking.ts";

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");

describe("chunking", () => {
  it("reports auto as OpenAI's static 800/400", () => {
    expect(resolveChunking({ type: "auto" })).toEqual({
      type: "static",
      static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 },
    });
    expect(resolveChunking(undefined)).toEqual(resolveChunking({ type: "auto" }));
  });

  it("cuts overlapping chunks that together cover every token", () => {
    const strategy = resolveChunking({
      type: "static",
      static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 20 },
    });
    const chunks = chunkText(words(250), strategy);
    expect(chunks.map(countTokens)).toEqual([100, 100, 90]);
    expect(chunks[1]!.startsWith("w80 ")).toBe(true);
    expect(chunks.at(-1)!.endsWith("w249")).toBe(true);
    expect(chunkText("", strategy)).toEqual([]);
    expect(chunkText("  one  ", strategy)).toEqual(["one"]);
  });

  it("refuses sizes outside OpenAI's bounds", () => {
    const bad = [
      { type: "static", static: { max_chunk_size_tokens: 99, chunk_overlap_tokens: 0 } },
      { type: "static", static: { max_chunk_size_tokens: 4097, chunk_overlap_tokens: 0 } },
      { type: "static", static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 101 } },
      { type: "static", static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: -1 } },
      { type: "other" },
      { type: "auto", extra: 1 },
    ];
    for (const b of bad) expect(ChunkingStrategyParam.safeParse(b).success, JSON.stringify(b)).toBe(false);
  });
});
