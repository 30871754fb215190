// The engine's chat completion as a Response object: the assistant text becomes a message item
// with output_text (and file_citation annotations when file_search ran), tool calls become
// function_call items, finish_reason 'length' makes the response incomplete, and chat usage
// becomes Responses usage (cached prompt tokens included when the engine reports them).
import type { FileSearchRun } from "./file-search.ts";
import { citationsFor } from "./file-search.ts";
import type { ResponsesBody } from "./schema.ts";
import { type ChatMessage, itemId } from "./translate-request.ts";

/** What the whole answer shares, fixed before the engine is called. */
export type ResponseFrame = {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  /** The model name the client used. */
  model: string;
  body: ResponsesBody;
  fileSearch?: FileSearchRun;
};

export type ChatUsage = {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
};

export type ToolCall = { id: string; name: string; arguments: string };

/** What the engine produced, however it arrived (whole or streamed). */
export type EngineAnswer = { text: string; toolCalls: ToolCall[]; finishReason?: string; usage?: ChatUsage };

export function usageOf(u: ChatUsage | undefined) {
  const input = u?.prompt_tokens ?? 0;
  const output = u?.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u?.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

export function messageItem(id: string, text: string, f: ResponseFrame, status = "completed") {
  return {
    id,
    type: "message",
    role: "assistant",
    status,
    content: [{ type: "output_text", text, annotations: citationsFor(f.fileSearch, text), logprobs: [] }],
  };
}

export function functionCallItem(id: string, c: ToolCall, status = "completed") {
  return { id, type: "function_call", status, call_id: c.id, name: c.name, arguments: c.arguments };
}

/** The Response object; `output`/`usage` empty while a stream is starting. */
export function responseObject(
  f: ResponseFrame,
  status: "in_progress" | "completed" | "incomplete",
  output: unknown[],
  usage: ReturnType<typeof usageOf> | null,
) {
  const b = f.body;
  return {
    id: f.id,
    object: "response",
    created_at: f.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    model: f.model,
    output,
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: b.store !== false,
    temperature: b.temperature ?? 1,
    text: { format: b.text?.format ?? { type: "text" } },
    tool_choice: b.tool_choice ?? "auto",
    tools: b.tools ?? [],
    top_p: b.top_p ?? 1,
    truncation: b.truncation ?? "disabled",
    usage,
    user: b.user ?? null,
    metadata: b.metadata ?? {},
  };
}

/** The output items in order: the file search (when it ran), the text, the tool calls. */
export function outputOf(f: ResponseFrame, a: EngineAnswer) {
  const out: Record<string, unknown>[] = [];
  if (f.fileSearch) out.push(f.fileSearch.item);
  if (a.text.length > 0 || a.toolCalls.length === 0) out.push(messageItem(itemId("msg"), a.text, f));
  for (const c of a.toolCalls) out.push(functionCallItem(itemId("fc"), c));
  return out;
}

export function statusOf(a: EngineAnswer): "completed" | "incomplete" {
  return a.finishReason === "length" ? "incomplete" : "completed";
}

/** The assistant turn as the stored conversation keeps it (what previous_response_id continues). */
export function assistantTurn(a: EngineAnswer): ChatMessage {
  const m: ChatMessage = { role: "assistant", content: a.text.length > 0 ? a.text : null };
  if (a.toolCalls.length > 0) {
    m.tool_calls = a.toolCalls.map((c) => ({
      id: c.id,
      type: "function",
      function: { name: c.name, arguments: c.arguments },
    }));
  } else if (m.content === null) m.content = "";
  return m;
}

/** A whole chat completion body (non-streaming) as the engine's answer. */
export function answerOfChat(body: string): EngineAnswer {
  const v = JSON.parse(body) as {
    choices?: {
      message?: {
        content?: unknown;
        tool_calls?: { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[] | null;
      };
      finish_reason?: unknown;
    }[];
    usage?: ChatUsage;
  };
  const choice = v.choices?.[0];
  const message = choice?.message;
  const toolCalls = (message?.tool_calls ?? []).map((c) => ({
    id: typeof c.id === "string" ? c.id : itemId("call"),
    name: String(c.function?.name ?? ""),
    arguments: typeof c.function?.arguments === "string" ? c.function.arguments : "{}",
  }));
  return {
    text: typeof message?.content === "string" ? message.content : "",
    toolCalls,
    finishReason: typeof choice?.finish_reason === "string" ? choice.finish_reason : undefined,
    usage: v.usage,
  };
}
