// A Responses request as the engine's chat completion: instructions become a system message,
// input items become chat messages after the stored conversation of previous_response_id,
// function tools and text.format map onto chat's tools and response_format. The result is a
// chat body that then goes through the same validation and tenant policy as /v1/chat/completions
// (router/handlers/prepare-body.ts): system prompt first, output cap, client system prompts.
import { randomBytes } from "node:crypto";
import { ApiError, invalidRequest } from "../../core/errors.ts";
import type { InputItem, ResponsesBody } from "./schema.ts";

/** A chat message as the engine takes it; also the stored conversation's shape. */
export type ChatMessage = {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
};

/** An input item as GET /v1/responses/{id}/input_items lists it. */
export type StoredInputItem = Record<string, unknown> & { id: string; type: string };

export type TranslatedRequest = {
  /** The chat body, before validation and tenant policy. */
  chat: Record<string, unknown>;
  /** Where each chat message came from ('instructions', 'input[2]', 'previous_response_id'). */
  origins: string[];
  /** The conversation a later previous_response_id continues (no instructions). */
  conversation: ChatMessage[];
  inputItems: StoredInputItem[];
  /** The last user text: what file_search searches for. */
  query: string;
};

export const itemId = (prefix: string) => `${prefix}_${randomBytes(24).toString("hex")}`;

export function translateRequest(
  b: ResponsesBody,
  previous: ChatMessage[],
  opts: { allowClientSystemPrompt: boolean },
): TranslatedRequest {
  const items: InputItem[] = typeof b.input === "string" ? [{ role: "user", content: b.input }] : b.input;
  const messages: ChatMessage[] = [];
  const origins: string[] = [];
  if (b.instructions) {
    if (!opts.allowClientSystemPrompt) {
      throw invalidRequest(
        "This tenant does not allow client system prompts, so 'instructions' is refused; the tenant's own " +
          "system prompt is applied by the platform.",
        "instructions",
      );
    }
    messages.push({ role: "system", content: b.instructions });
    origins.push("instructions");
  }
  for (const m of previous) {
    messages.push(m);
    origins.push("previous_response_id");
  }
  const fresh: ChatMessage[] = [];
  const inputItems: StoredInputItem[] = [];
  let query = "";
  items.forEach((item, i) => {
    const param = `input[${i}]`;
    if (item.type === "function_call") {
      const call = {
        id: item.call_id,
        type: "function" as const,
        function: { name: item.name, arguments: item.arguments },
      };
      const last = fresh.at(-1);
      // Parallel calls of one turn are one assistant message with several tool_calls.
      if (last?.role === "assistant" && last.tool_calls && last.content === null) last.tool_calls.push(call);
      else {
        fresh.push({ role: "assistant", content: null, tool_calls: [call] });
        origins.push(param);
      }
      inputItems.push({ id: itemId("fc"), ...item, status: "completed" });
      return;
    }
    if (item.type === "function_call_output") {
      fresh.push({ role: "tool", tool_call_id: item.call_id, content: item.output });
      origins.push(param);
      inputItems.push({ id: itemId("fco"), ...item, status: "completed" });
      return;
    }
    if ((item.role === "system" || item.role === "developer") && !opts.allowClientSystemPrompt) {
      throw invalidRequest(
        `This tenant does not allow client system prompts: ${param} has role '${item.role}'. Send user and ` +
          "assistant messages only.",
        `${param}.role`,
      );
    }
    const text = textOf(item.content, `${param}.content`);
    fresh.push({ role: item.role, content: text });
    origins.push(param);
    if (item.role === "user") query = text;
    const partType = item.role === "assistant" ? "output_text" : "input_text";
    inputItems.push({
      id: itemId("msg"),
      type: "message",
      role: item.role,
      status: "completed",
      content: [{ type: partType, text, ...(partType === "output_text" ? { annotations: [] } : {}) }],
    });
  });
  messages.push(...fresh);
  const chat: Record<string, unknown> = { model: b.model, messages };
  if (b.stream) chat.stream = true;
  if (b.max_output_tokens != null) chat.max_tokens = b.max_output_tokens;
  if (b.temperature != null) chat.temperature = b.temperature;
  if (b.top_p != null) chat.top_p = b.top_p;
  if (b.user != null) chat.user = b.user;
  const functions = (b.tools ?? []).flatMap((t) => (t.type === "function" ? [t] : []));
  if (functions.length > 0) {
    chat.tools = functions.map((f) => ({
      type: "function",
      function: {
        name: f.name,
        ...(f.description != null ? { description: f.description } : {}),
        ...(f.parameters != null ? { parameters: f.parameters } : {}),
        ...(f.strict != null ? { strict: f.strict } : {}),
      },
    }));
    if (b.parallel_tool_calls != null) chat.parallel_tool_calls = b.parallel_tool_calls;
    const choice = b.tool_choice;
    if (typeof choice === "string") chat.tool_choice = choice;
    else if (choice?.type === "function")
      chat.tool_choice = { type: "function", function: { name: choice.name } };
  }
  const format = b.text?.format;
  if (format?.type === "json_object") chat.response_format = { type: "json_object" };
  else if (format?.type === "json_schema") {
    chat.response_format = {
      type: "json_schema",
      json_schema: {
        name: format.name,
        schema: format.schema,
        ...(format.description != null ? { description: format.description } : {}),
        ...(format.strict != null ? { strict: format.strict } : {}),
      },
    };
  }
  return { chat, origins, conversation: [...previous, ...fresh], inputItems, query };
}

/** Text parts joined; images, files and audio are refused (no engine here takes them). */
function textOf(content: string | { type: string; text?: unknown }[], param: string): string {
  if (typeof content === "string") return content;
  const texts: string[] = [];
  content.forEach((part, j) => {
    if (part.type === "input_text" || part.type === "output_text") texts.push(part.text as string);
    else {
      throw new ApiError(
        400,
        `${param}[${j}] is an '${part.type}' part, but the model does not accept ${part.type.slice(6)} input: send text only.`,
        { code: "invalid_request", param: `${param}[${j}]` },
      );
    }
  });
  return texts.join("\n");
}
