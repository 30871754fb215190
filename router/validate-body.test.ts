import { describe, expect, it } from "vitest";
import { ApiError } from "../core/errors.ts";
import {
  formatPath,
  validateChatBody,
  validateCompletionBody,
  validateEmbeddingBody,
} from "./validate-body.ts";

const user = [{ role: "user", content: "hi" }];

function rejection(fn: () => unknown): { status: number; param: string | null; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, param: err.param, message: err.message };
    throw err;
  }
  throw new Error("expected an ApiError");
}

describe("validateChatBody", () => {
  it("accepts a minimal body and passes unknown fields through", () => {
    const body = validateChatBody({ model: "m", messages: user, vendor_x: { a: 1 }, guided_json: {} });
    expect(body.vendor_x).toEqual({ a: 1 });
    expect(body.guided_json).toEqual({});
  });

  it("accepts content parts, tool messages, assistant tool calls and nulls for optional fields", () => {
    expect(() =>
      validateChatBody({
        model: "m",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "hi" },
              { type: "image_url", image_url: { url: "x" } },
            ],
          },
          { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function" }] },
          { role: "tool", content: "42", tool_call_id: "1" },
        ],
        temperature: null,
        max_tokens: null,
        stream: true,
        stream_options: { include_usage: true },
        stop: ["\n"],
        n: 1,
      }),
    ).not.toThrow();
  });

  const cases: [string, Record<string, unknown>, string, RegExp?][] = [
    ["missing model", { messages: user }, "model", /Missing required parameter: 'model'/],
    ["model of the wrong type", { model: 5, messages: user }, "model"],
    ["missing messages", { model: "m" }, "messages", /Missing required/],
    ["empty messages", { model: "m", messages: [] }, "messages"],
    ["messages not an array", { model: "m", messages: "hi" }, "messages"],
    ["unknown role", { model: "m", messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
    [
      "content of the wrong type",
      { model: "m", messages: [{ role: "user", content: 7 }] },
      "messages[0].content",
      /expected string or array, received number/,
    ],
    [
      "content part without type",
      { model: "m", messages: [{ role: "user", content: [{ text: "x" }] }] },
      "messages[0].content[0].type",
    ],
    [
      "text part without text",
      { model: "m", messages: [{ role: "user", content: [{ type: "text" }] }] },
      "messages[0].content[0].text",
    ],
    ["user message without content", { model: "m", messages: [{ role: "user" }] }, "messages[0].content"],
    ["negative max_tokens", { model: "m", messages: user, max_tokens: -1 }, "max_tokens"],
    ["zero max_tokens", { model: "m", messages: user, max_tokens: 0 }, "max_tokens"],
    ["fractional max_tokens", { model: "m", messages: user, max_tokens: 1.5 }, "max_tokens"],
    ["huge max_tokens", { model: "m", messages: user, max_tokens: 1e300 }, "max_tokens"],
    [
      "string max_completion_tokens",
      { model: "m", messages: user, max_completion_tokens: "10" },
      "max_completion_tokens",
    ],
    ["temperature above 2", { model: "m", messages: user, temperature: 2.5 }, "temperature"],
    ["negative temperature", { model: "m", messages: user, temperature: -0.1 }, "temperature"],
    ["top_p of 0", { model: "m", messages: user, top_p: 0 }, "top_p"],
    ["stream as a string", { model: "m", messages: user, stream: "yes" }, "stream"],
    ["n above 1", { model: "m", messages: user, n: 3 }, "n", /only n=1/],
    [
      "stream_options without stream",
      { model: "m", messages: user, stream_options: { include_usage: true } },
      "stream_options",
    ],
    ["stop of the wrong type", { model: "m", messages: user, stop: 5 }, "stop"],
    ["bad logit_bias", { model: "m", messages: user, logit_bias: { "1": 500 } }, "logit_bias.1"],
  ];
  for (const [what, body, param, message] of cases) {
    it(`rejects ${what} with a 400 naming '${param}'`, () => {
      const r = rejection(() => validateChatBody(body));
      expect(r.status).toBe(400);
      expect(r.param).toBe(param);
      if (message) expect(r.message).toMatch(message);
    });
  }

  it("rejects bodies that are not JSON objects", () => {
    for (const body of [null, [], "x", 3, true])
      expect(rejection(() => validateChatBody(body)).status).toBe(400);
  });

  it("accepts odd unicode in content untouched", () => {
    const content = "\u0000\ud800 ‮ 🦙 \uffff";
    expect(validateChatBody({ model: "m", messages: [{ role: "user", content }] }).messages[0]!.content).toBe(
      content,
    );
  });
});

describe("validateCompletionBody", () => {
  it("accepts text, batches and token ids", () => {
    for (const prompt of ["x", ["a", "b"], [1, 2], [[1], [2, 3]]]) {
      expect(validateCompletionBody({ model: "m", prompt }).prompt).toEqual(prompt);
    }
  });
  it("rejects missing, empty and mixed prompts, and best_of above 1", () => {
    expect(rejection(() => validateCompletionBody({ model: "m" })).param).toBe("prompt");
    expect(rejection(() => validateCompletionBody({ model: "m", prompt: [] })).param).toBe("prompt");
    expect(rejection(() => validateCompletionBody({ model: "m", prompt: ["a", 1] })).param).toBe("prompt[1]");
    expect(rejection(() => validateCompletionBody({ model: "m", prompt: "a", best_of: 2 })).param).toBe(
      "best_of",
    );
    expect(rejection(() => validateCompletionBody({ model: "m", prompt: [-1] })).param).toBe("prompt[0]");
  });
});

describe("validateEmbeddingBody", () => {
  it("accepts input forms and checks encoding_format and dimensions", () => {
    expect(validateEmbeddingBody({ model: "m", input: ["a"], encoding_format: "base64" }).input).toEqual([
      "a",
    ]);
    expect(rejection(() => validateEmbeddingBody({ model: "m" })).param).toBe("input");
    expect(
      rejection(() => validateEmbeddingBody({ model: "m", input: "a", encoding_format: "hex" })).param,
    ).toBe("encoding_format");
    expect(rejection(() => validateEmbeddingBody({ model: "m", input: "a", dimensions: -3 })).param).toBe(
      "dimensions",
    );
  });
});

describe("formatPath", () => {
  it("writes paths the way OpenAI names parameters", () => {
    expect(formatPath(["messages", 2, "content", 0, "text"])).toBe("messages[2].content[0].text");
    expect(formatPath([])).toBe("");
  });
});
