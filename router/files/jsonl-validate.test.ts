import { describe, expect, it } from "vitest";
import { MAX_REPORTED_ERRORS, validateChatJsonl } from "./jsonl-validate.ts";

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
});
