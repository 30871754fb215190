// The translation both ways, without a server: Responses requests as chat bodies (function
// calls and their outputs, text.format, tool_choice), chat answers as Responses output (tool
// calls as function_call items, the output cap as status incomplete), and a streamed tool call.
import { describe, expect, it } from "vitest";
import { parseResponsesBody } from "./schema.ts";
import { createStreamTranslator } from "./stream-events.ts";
import { translateRequest } from "./translate-request.ts";
import { answerOfChat, outputOf, type ResponseFrame, statusOf } from "./translate-response.ts";

const open = { allowClientSystemPrompt: true };

describe("Responses request → chat body", () => {
  it("maps function calls, their outputs, tools, tool_choice and json_schema", () => {
    const b = parseResponsesBody({
      model: "m",
      instructions: "Be brief.",
      input: [
        { role: "user", content: "weather in Oslo?" },
        { type: "function_call", call_id: "call_1", name: "weather", arguments: '{"city":"Oslo"}' },
        { type: "function_call_output", call_id: "call_1", output: "4°C" },
      ],
      tools: [{ type: "function", name: "weather", parameters: { type: "object" } }],
      tool_choice: { type: "function", name: "weather" },
      text: { format: { type: "json_schema", name: "w", schema: { type: "object" }, strict: true } },
      max_output_tokens: 50,
    });
    const t = translateRequest(b, [], open);
    expect(t.chat).toMatchObject({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "weather in Oslo?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Oslo"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "4°C" },
      ],
      tools: [{ type: "function", function: { name: "weather", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "weather" } },
      response_format: {
        type: "json_schema",
        json_schema: { name: "w", schema: { type: "object" }, strict: true },
      },
      max_tokens: 50,
    });
    // The stored conversation leaves the instructions out (OpenAI does not carry them over).
    expect(t.conversation.map((m) => m.role)).toEqual(["user", "assistant", "tool"]);
    expect(t.query).toBe("weather in Oslo?");
  });

  it("refuses hosted tools by name and unknown fields, and maps json_object", () => {
    expect(() =>
      parseResponsesBody({ model: "m", input: "x", tools: [{ type: "code_interpreter" }] }),
    ).toThrow(/code_interpreter/);
    expect(() => parseResponsesBody({ model: "m", input: "x", reasoning_effort: "high" })).toThrow(
      /Unrecognized request argument supplied: reasoning_effort/,
    );
    const b = parseResponsesBody({ model: "m", input: "x", text: { format: { type: "json_object" } } });
    expect(translateRequest(b, [], open).chat.response_format).toEqual({ type: "json_object" });
  });
});

describe("chat answer → Responses output", () => {
  const frame = (body = parseResponsesBody({ model: "m", input: "x" })): ResponseFrame => ({
    id: "resp_1",
    createdAt: 1,
    model: "m",
    body,
  });

  it("turns tool calls into function_call items and a capped answer into incomplete", () => {
    const answer = answerOfChat(
      JSON.stringify({
        choices: [
          {
            message: {
              content: null,
              tool_calls: [{ id: "call_9", type: "function", function: { name: "f", arguments: "{}" } }],
            },
            finish_reason: "tool_calls",
          },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 3 } },
      }),
    );
    expect(outputOf(frame(), answer)).toMatchObject([
      { type: "function_call", call_id: "call_9", name: "f", arguments: "{}", status: "completed" },
    ]);
    expect(statusOf(answer)).toBe("completed");
    expect(statusOf({ ...answer, finishReason: "length" })).toBe("incomplete");
  });

  it("streams a tool call as function_call items with argument deltas", async () => {
    const t = createStreamTranslator(frame(), async (a, output) => ({ status: statusOf(a), output }));
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    let out = t.start();
    out += t.push(
      chunk({ tool_calls: [{ index: 0, id: "call_7", function: { name: "f", arguments: '{"a"' } }] }),
    );
    out += t.push(chunk({ tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }, "tool_calls"));
    out += t.push("data: [DONE]\n\n");
    out += await t.end();
    const events = out
      .split("\n\n")
      .filter(Boolean)
      .map((e) => JSON.parse(e.slice(e.indexOf("data: ") + 6)));
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.at(-1).response.output).toMatchObject([
      { type: "function_call", call_id: "call_7", name: "f", arguments: '{"a":1}' },
    ]);
  });
});
