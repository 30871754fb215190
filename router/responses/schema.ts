// The body of POST /v1/responses, parsed with zod before anything else reads it: known fields are
// type- and range-checked (a 400 naming the field, as for chat), tools Loraplex does not run and
// inputs the engines cannot take are refused with a 400 that names them, and unknown fields are
// refused like chat's unknown arguments.
import { z } from "zod";
import { invalidRequest } from "../../core/errors.ts";
import { Filter } from "../../retrieval/filters.ts";
import { VectorStoreId } from "../../retrieval/ids.ts";
import { vectorStoreNotFound } from "../../retrieval/store-files.ts";
import { validateWith } from "../validate-body.ts";

/** The include value Loraplex serves; OpenAI's others are about features it does not run. */
export const FILE_SEARCH_RESULTS = "file_search_call.results";

const NoNul = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain NUL");

const TextPart = z.looseObject({ type: z.enum(["input_text", "output_text"]), text: z.string() });
const MediaPart = z.looseObject({ type: z.enum(["input_image", "input_file", "input_audio"]) });
const Part = z.union([TextPart, MediaPart]);

const MessageItem = z.looseObject({
  type: z.literal("message").optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(Part).min(1)]),
});
const FunctionCallItem = z.looseObject({
  type: z.literal("function_call"),
  call_id: z.string().min(1).max(256),
  name: z.string().min(1).max(256),
  arguments: z.string(),
});
const FunctionCallOutputItem = z.looseObject({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1).max(256),
  output: z.string(),
});
const InputItem = z.union([MessageItem, FunctionCallItem, FunctionCallOutputItem]);
export type InputItem = z.infer<typeof InputItem>;

const FunctionTool = z.strictObject({
  type: z.literal("function"),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'"),
  description: z.string().max(4096).nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
const FileSearchTool = z.strictObject({
  type: z.literal("file_search"),
  vector_store_ids: z.array(z.string()).min(1).max(2),
  max_num_results: z.int().min(1).max(50).nullish(),
  filters: Filter.nullish(),
  ranking_options: z
    .strictObject({
      ranker: z.enum(["auto", "default-2024-11-15", "hybrid"]).nullish(),
      score_threshold: z.number().min(0).max(1).nullish(),
    })
    .nullish(),
});
const Tool = z.union([FunctionTool, FileSearchTool]);
export type FunctionTool = z.infer<typeof FunctionTool>;
export type FileSearchTool = z.infer<typeof FileSearchTool>;

const Format = z.union([
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'"),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().max(4096).nullish(),
    strict: z.boolean().nullish(),
  }),
]);

const ToolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.strictObject({ type: z.literal("function"), name: z.string().min(1).max(64) }),
  z.strictObject({ type: z.literal("file_search") }),
]);

export const ResponsesBody = z.strictObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(InputItem).min(1, "input must contain at least one item")]),
  instructions: z.string().nullish(),
  previous_response_id: z.string().max(256).nullish(),
  max_output_tokens: z.int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  metadata: z
    .record(NoNul(64), NoNul(512))
    .refine((m) => Object.keys(m).length <= 16, "at most 16 keys")
    .nullish(),
  user: z.string().max(512).nullish(),
  text: z
    .strictObject({ format: Format.nullish(), verbosity: z.enum(["low", "medium", "high"]).nullish() })
    .nullish(),
  tools: z.array(Tool).max(128).nullish(),
  tool_choice: ToolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  include: z
    .array(z.literal(FILE_SEARCH_RESULTS, { error: `only '${FILE_SEARCH_RESULTS}' is supported` }))
    .nullish(),
  truncation: z.enum(["disabled", "auto"]).nullish(),
  // OpenAI platform fields with no meaning here: accepted, not used.
  service_tier: z.string().max(64).nullish(),
  prompt_cache_key: z.string().max(256).nullish(),
  safety_identifier: z.string().max(256).nullish(),
  background: z.literal(false, { error: "background responses are not supported" }).nullish(),
});
export type ResponsesBody = z.infer<typeof ResponsesBody>;

/** Tools the platform does not run, refused by name before the schema's generic message. */
const HOSTED_TOOLS = new Set([
  "web_search",
  "web_search_preview",
  "web_search_preview_2025_03_11",
  "code_interpreter",
  "computer_use",
  "computer_use_preview",
  "image_generation",
  "mcp",
  "local_shell",
  "shell",
  "apply_patch",
  "custom",
]);

export function parseResponsesBody(body: Record<string, unknown>): ResponsesBody {
  const tools = body.tools;
  if (Array.isArray(tools)) {
    tools.forEach((t, i) => {
      const type = (t as { type?: unknown } | null)?.type;
      if (typeof type === "string" && type !== "function" && type !== "file_search") {
        const name = type.length > 64 ? `${type.slice(0, 64)}…` : type;
        throw invalidRequest(
          HOSTED_TOOLS.has(type)
            ? `The tool '${name}' is not available on this platform: only 'function' and 'file_search' tools are supported.`
            : `Unknown tool type '${name}': only 'function' and 'file_search' tools are supported.`,
          `tools[${i}].type`,
        );
      }
    });
  }
  for (const key of Object.keys(body)) {
    if (!(key in ResponsesBody.shape)) {
      const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
      throw invalidRequest(`Unrecognized request argument supplied: ${name}`, name);
    }
  }
  const parsed = validateWith(ResponsesBody, body);
  parsed.tools?.forEach((t) => {
    if (t.type !== "file_search") return;
    t.vector_store_ids.forEach((id) => {
      // A malformed id is answered exactly like an unknown one (404).
      if (!VectorStoreId.safeParse(id).success) throw vectorStoreNotFound(id.slice(0, 100));
    });
  });
  return parsed;
}
