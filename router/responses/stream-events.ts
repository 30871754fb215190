// The engine's chat completion stream as the Responses event sequence the openai SDK's
// `responses.stream` helper accumulates: response.created, response.in_progress, the
// file_search_call item (when the tool ran), then per output item output_item.added →
// content_part.added → output_text.delta… → output_text.done → content_part.done →
// output_item.done (function calls: function_call_arguments.delta… → .done), and finally
// response.completed carrying the final response and usage. Every event has a sequence_number.
import type { ApiError } from "../../core/errors.ts";
import { itemId } from "./translate-request.ts";
import {
  type ChatUsage,
  type EngineAnswer,
  functionCallItem,
  messageItem,
  type ResponseFrame,
  responseObject,
  type ToolCall,
} from "./translate-response.ts";

/** Stores the final response (when asked) and returns the object response.completed carries. */
export type Finish = (
  answer: EngineAnswer,
  output: Record<string, unknown>[],
) => Promise<Record<string, unknown>>;

type ChatChunk = {
  choices?: {
    delta?: {
      content?: unknown;
      tool_calls?: { index?: number; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[];
    };
    finish_reason?: unknown;
  }[];
  usage?: ChatUsage;
  error?: { message?: unknown };
  object?: unknown;
  message?: unknown;
};

export function createStreamTranslator(f: ResponseFrame, finish: Finish) {
  let seq = 0;
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`;
  const answer: EngineAnswer = { text: "", toolCalls: [] };
  const output: Record<string, unknown>[] = f.fileSearch ? [f.fileSearch.item] : [];
  let message: { id: string; index: number } | undefined;
  const calls = new Map<number, { id: string; index: number; call: ToolCall }>();
  let failed = false;

  const openMessage = (): string => {
    message = { id: itemId("msg"), index: output.length };
    output.push(messageItem(message.id, "", f, "in_progress"));
    const item = { ...messageItem(message.id, "", f, "in_progress"), content: [] };
    return (
      event("response.output_item.added", { output_index: message.index, item }) +
      event("response.content_part.added", {
        item_id: message.id,
        output_index: message.index,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [], logprobs: [] },
      })
    );
  };

  const onToolCall = (
    d: NonNullable<NonNullable<NonNullable<ChatChunk["choices"]>[0]["delta"]>["tool_calls"]>[0],
  ) => {
    let out = "";
    const key = typeof d.index === "number" ? d.index : calls.size;
    let c = calls.get(key);
    if (!c) {
      const call: ToolCall = {
        id: typeof d.id === "string" ? d.id : itemId("call"),
        name: typeof d.function?.name === "string" ? d.function.name : "",
        arguments: "",
      };
      c = { id: itemId("fc"), index: output.length, call };
      calls.set(key, c);
      answer.toolCalls.push(call);
      output.push(functionCallItem(c.id, call, "in_progress"));
      out += event("response.output_item.added", {
        output_index: c.index,
        item: functionCallItem(c.id, call, "in_progress"),
      });
    }
    const args = d.function?.arguments;
    if (typeof args === "string" && args.length > 0) {
      c.call.arguments += args;
      out += event("response.function_call_arguments.delta", {
        item_id: c.id,
        output_index: c.index,
        delta: args,
      });
    }
    return out;
  };

  const onChunk = (data: string): string => {
    if (data === "[DONE]") return "";
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      return "";
    }
    if (chunk.error || chunk.object === "error") {
      failed = true;
      const msg = String(chunk.error?.message ?? chunk.message ?? "engine error");
      return errorEvent("upstream_error", `The engine replica failed: ${msg}`);
    }
    if (chunk.usage) answer.usage = chunk.usage;
    let out = "";
    const choice = chunk.choices?.[0];
    const delta = choice?.delta;
    if (typeof delta?.content === "string" && delta.content.length > 0) {
      if (!message) out += openMessage();
      answer.text += delta.content;
      out += event("response.output_text.delta", {
        item_id: message!.id,
        output_index: message!.index,
        content_index: 0,
        delta: delta.content,
        logprobs: [],
      });
    }
    for (const d of delta?.tool_calls ?? []) out += onToolCall(d);
    if (typeof choice?.finish_reason === "string") answer.finishReason = choice.finish_reason;
    return out;
  };

  const errorEvent = (code: string, msg: string, param: string | null = null) =>
    event("error", { code, message: msg, param, error: { type: "server_error", code, message: msg, param } });

  return {
    start(): string {
      const initial = responseObject(f, "in_progress", [], null);
      let out =
        event("response.created", { response: initial }) +
        event("response.in_progress", { response: initial });
      if (f.fileSearch) {
        const item = f.fileSearch.item;
        const at = { output_index: 0, item_id: item.id };
        out +=
          event("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress" } }) +
          event("response.file_search_call.in_progress", at) +
          event("response.file_search_call.searching", at) +
          event("response.file_search_call.completed", at) +
          event("response.output_item.done", { output_index: 0, item });
      }
      return out;
    },

    /** Whole rewritten engine events in, Responses events out. */
    push(sse: string): string {
      if (sse.length === 0) return "";
      let out = "";
      for (const ev of sse.split("\n\n")) {
        for (const line of ev.split("\n")) {
          if (line.startsWith("data:")) out += onChunk(line.slice(line[5] === " " ? 6 : 5));
        }
      }
      return out;
    },

    async end(): Promise<string> {
      if (failed) return "";
      let out = "";
      if (!message && calls.size === 0) out += openMessage();
      if (message) {
        const done = messageItem(message.id, answer.text, f);
        output[message.index] = done;
        const at = { item_id: message.id, output_index: message.index, content_index: 0 };
        out +=
          event("response.output_text.done", { ...at, text: answer.text, logprobs: [] }) +
          event("response.content_part.done", { ...at, part: done.content[0] }) +
          event("response.output_item.done", { output_index: message.index, item: done });
      }
      for (const c of calls.values()) {
        const done = functionCallItem(c.id, c.call);
        output[c.index] = done;
        out +=
          event("response.function_call_arguments.done", {
            item_id: c.id,
            output_index: c.index,
            arguments: c.call.arguments,
          }) + event("response.output_item.done", { output_index: c.index, item: done });
      }
      // Always response.completed, even when the response's status says incomplete (output cap
      // reached): the SDK's stream helper takes the final response, usage included, only from it.
      return out + event("response.completed", { response: await finish(answer, output) });
    },

    error(e: ApiError): string {
      return errorEvent(e.code ?? "server_error", e.message, e.param);
    },
  };
}
