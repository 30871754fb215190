// Request bodies of the OpenAI endpoints, checked before anything else looks at them. Known
// fields are type- and range-checked and a failure is a 400 naming the field the way OpenAI
// does ('messages[2].content'). Which fields may be present at all is engine-params.ts's
// allowlist, checked before these schemas run.
import { z } from "zod";
import { invalidRequest } from "../core/errors.ts";

const MAX_STOP = 16;
const MAX_USER = 512;

const PositiveInt = z.int().min(1);
const Temperature = z.number().min(0).max(2);
const TopP = z.number().gt(0).max(1);
const Penalty = z.number().min(-2).max(2);
const Stop = z.union([z.string(), z.array(z.string()).max(MAX_STOP)]);
const OnlyOne = z.literal(1, { error: "only n=1 is supported" });
const StreamOptions = z.looseObject({ include_usage: z.boolean().nullish() });
const TokenIds = z.array(z.int().min(0)).min(1);
// Text, a batch of texts, token ids, or a batch of token-id lists.
const PromptInput = z.union([z.string(), z.array(z.string()).min(1), TokenIds, z.array(TokenIds).min(1)]);

const ContentPart = z
  .looseObject({ type: z.string().min(1), text: z.string().optional() })
  .refine((p) => p.type !== "text" || typeof p.text === "string", {
    message: "a text part needs a string 'text'",
    path: ["text"],
  });

const Message = z
  .looseObject({
    role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
    content: z.union([z.string(), z.array(ContentPart)]).nullish(),
    name: z.string().max(256).optional(),
  })
  .superRefine((m, ctx) => {
    // Only an assistant turn (carrying tool calls) may come without content.
    if (m.content == null && m.role !== "assistant") {
      ctx.addIssue({ code: "custom", path: ["content"], message: `a '${m.role}' message needs content` });
    }
  });

const Sampling = {
  model: z.string(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptions.nullish(),
  max_tokens: PositiveInt.nullish(),
  temperature: Temperature.nullish(),
  top_p: TopP.nullish(),
  n: OnlyOne.nullish(),
  presence_penalty: Penalty.nullish(),
  frequency_penalty: Penalty.nullish(),
  seed: z.int().nullish(),
  stop: Stop.nullish(),
  user: z.string().max(MAX_USER).nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  top_k: z.int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).max(2).nullish(),
  min_tokens: z.int().min(0).nullish(),
  ignore_eos: z.boolean().nullish(),
  cache_salt: z.string().max(256).nullish(),
};

const streamOptionsNeedStream = (
  b: { stream?: boolean | null; stream_options?: unknown },
  ctx: z.RefinementCtx,
) => {
  if (b.stream_options != null && b.stream !== true) {
    ctx.addIssue({
      code: "custom",
      path: ["stream_options"],
      message: "stream_options is only allowed when stream is true",
    });
  }
};

export const ChatBody = z
  .looseObject({
    ...Sampling,
    messages: z.array(Message).min(1, "messages must contain at least one message"),
    max_completion_tokens: PositiveInt.nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.int().min(0).max(20).nullish(),
    tools: z.array(z.looseObject({ type: z.string() })).nullish(),
    tool_choice: z.union([z.string(), z.looseObject({ type: z.string() })]).nullish(),
    response_format: z.looseObject({ type: z.string() }).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    reasoning_effort: z.string().max(32).nullish(),
  })
  .superRefine(streamOptionsNeedStream);

export const CompletionBody = z
  .looseObject({
    ...Sampling,
    prompt: PromptInput,
    echo: z.boolean().nullish(),
    suffix: z.string().nullish(),
    best_of: z.literal(1, { error: "only best_of=1 is supported" }).nullish(),
    logprobs: z.int().min(0).max(20).nullish(),
  })
  .superRefine(streamOptionsNeedStream);

export const EmbeddingBody = z.looseObject({
  model: z.string(),
  input: PromptInput,
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: PositiveInt.nullish(),
  user: z.string().max(MAX_USER).nullish(),
});

export type ChatBody = z.infer<typeof ChatBody>;
export type CompletionBody = z.infer<typeof CompletionBody>;
export type EmbeddingBody = z.infer<typeof EmbeddingBody>;

export const validateChatBody = (body: unknown): ChatBody => validateWith(ChatBody, body);
export const validateCompletionBody = (body: unknown): CompletionBody => validateWith(CompletionBody, body);
export const validateEmbeddingBody = (body: unknown): EmbeddingBody => validateWith(EmbeddingBody, body);

/** Parses `body` with `schema`, or throws the 400 naming the first bad field ('input[2].content'). */
export function validateWith<T>(schema: z.ZodType<T>, body: unknown): T {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const { path, message } = explain(r.error.issues[0]!, []);
  const param = formatPath(path);
  if (message === "missing") throw invalidRequest(`Missing required parameter: '${param}'.`, param);
  throw invalidRequest(param ? `Invalid '${param}': ${message}.` : `${message}.`, param || undefined);
}

type Path = readonly PropertyKey[];

/** Turns a zod issue into (path, message); for a union, the branch of the value's type speaks. */
function explain(issue: z.core.$ZodIssue, base: Path): { path: Path; message: string } {
  const path = [...base, ...issue.path];
  if (issue.code === "invalid_union") {
    const sameType = issue.errors.find((branch) => branch[0] && !isRootTypeMismatch(branch[0]));
    if (sameType) return explain(sameType[0]!, path);
    const expected = [...new Set(issue.errors.map((b) => (b[0] as { expected?: string })?.expected))];
    const received = /received (\w+)/.exec(issue.errors[0]?.[0]?.message ?? "")?.[1];
    if (received === "undefined") return { path, message: "missing" };
    return { path, message: `expected ${expected.join(" or ")}${received ? `, received ${received}` : ""}` };
  }
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
    return { path, message: "missing" };
  }
  return { path, message: issue.message.replace(/^Invalid (input|option): /, "") };
}

function isRootTypeMismatch(issue: z.core.$ZodIssue): boolean {
  return issue.path.length === 0 && issue.code === "invalid_type";
}

/** ["messages", 2, "content"] → "messages[2].content" */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}
