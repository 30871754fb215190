import { describe, expect, it } from "vitest";
import { JsonlValidator, MAX_LINE_BYTES, MAX_REPORTED_ERRORS, validateChatJsonl } from "./jsonl-validate.ts";

const good = JSON.stringify({
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello." },
  ],
});

describe("validateChatJsonl", () => {
  it("counts valid examples and ignores blank lines", () => {
    expect(validateChatJsonl(`${good}\n\n${good}\n`)).toEqual({ examples: 2, errors: [] });
  });

  it("reports problems with their line numbers", () => {
    const text = [
      good,
      "{not json",
      JSON.stringify({ prompt: "x" }),
      JSON.stringify({ messages: [{ role: "user", content: "only a question" }] }),
      JSON.stringify({ messages: [{ role: "wizard", content: "x" }] }),
      JSON.stringify({ messages: [{ role: "assistant", content: 3 }] }),
      "[1, 2]",
    ].join("\n");
    const r = validateChatJsonl(text);
    expect(r.errors).toEqual([
      "line 2: not valid JSON",
      "line 3: 'messages' must be a non-empty array",
      "line 4: an example needs at least one assistant message to learn from",
      expect.stringMatching(/^line 5: messages\[0\]\.role must be one of/),
      "line 6: messages[0].content must be a string or an array of text parts",
    ]);
    expect(r.errors).toHaveLength(MAX_REPORTED_ERRORS);
  });

  it("accepts text parts and tool-call-only assistant turns", () => {
    const line = JSON.stringify({
      messages: [
        { role: "user", content: [{ type: "text", text: "weather?" }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function" }] },
      ],
    });
    expect(validateChatJsonl(line).errors).toEqual([]);
  });

  it("rejects an empty file", () => {
    expect(validateChatJsonl("\n").errors).toEqual(["the file holds no training examples"]);
  });

  it("gives the same report however the stream is cut into chunks", () => {
    const text = `${good}\n{not json\n${JSON.stringify({ messages: [{ role: "user", content: "é😀" }] })}\n${good}`;
    const whole = validateChatJsonl(text);
    const bytes = Buffer.from(text, "utf8");
    for (const size of [1, 2, 3, 7, 64]) {
      const v = new JsonlValidator();
      for (let i = 0; i < bytes.length; i += size) v.push(bytes.subarray(i, i + size));
      expect(v.end()).toEqual(whole);
    }
    expect(whole).toEqual({
      examples: 2,
      errors: [
        "line 2: not valid JSON",
        "line 3: an example needs at least one assistant message to learn from",
      ],
    });
  });

  it("reports a line longer than the limit without holding it, and goes on with the next", () => {
    const v = new JsonlValidator();
    const piece = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i <= MAX_LINE_BYTES / piece.length; i++) v.push(piece);
    v.push(Buffer.from(`\n${good}\n`));
    expect(v.end()).toEqual({
      examples: 1,
      errors: [`line 1: longer than ${MAX_LINE_BYTES} bytes, the limit for one example`],
    });
  });
});
