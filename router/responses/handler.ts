// POST /v1/responses: a translation layer over the chat completions path. The Responses body is
// parsed (schema.ts), the conversation of previous_response_id loaded (store.ts), the request
// translated to a chat body (translate-request.ts) that then passes the same validation and
// tenant policy as /v1/chat/completions; file_search runs against the caller's own stores and
// its excerpts go right after the tenant's system prompt (file-search.ts). Authentication, model
// resolution, admission, forwarding, settlement, metering and audit are the shared inference
// path's (router/handlers/inference.ts), so each request is billed and audited exactly once;
// only the answer is reshaped (translate-response.ts, stream-events.ts) and, with store: true,
// saved before the client receives its final event.
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "../../core/errors.ts";
import type { Authenticated } from "../../core/request-context.ts";
import type { AnswerShaper } from "../forward/job.ts";
import type { RouterDeps } from "../handlers/deps.ts";
import { type EndpointSpec, handleInference, type Translate } from "../handlers/inference.ts";
import type { PreparedBody } from "../handlers/prepare-body.ts";
import { type FileSearchRun, runFileSearch } from "./file-search.ts";
import { FILE_SEARCH_RESULTS, parseResponsesBody, type ResponsesBody } from "./schema.ts";
import type { SearchStores } from "./services.ts";
import { type ResponseStore, responseNotFound, type StoredResponse } from "./store.ts";
import { createStreamTranslator } from "./stream-events.ts";
import { itemId, type TranslatedRequest, translateRequest } from "./translate-request.ts";
import {
  answerOfChat,
  assistantTurn,
  type EngineAnswer,
  outputOf,
  type ResponseFrame,
  responseObject,
  statusOf,
  usageOf,
} from "./translate-response.ts";

const spec: EndpointSpec = { endpoint: "responses", path: "/v1/chat/completions", streamable: true };

export function handleResponses(
  deps: RouterDeps,
  req: IncomingMessage,
  res: ServerResponse,
  receivedAt: number,
  requestId: string,
): Promise<void> {
  return handleInference(deps, spec, req, res, receivedAt, requestId, translator(deps));
}

function translator(deps: RouterDeps): Translate {
  return async (auth, parsed) => {
    const services = deps.responses;
    if (!services) throw new ApiError(503, "The Responses API is not available on this router.");
    const b = parseResponsesBody(parsed);
    // An unknown model fails before anything is searched or loaded.
    deps.resolveModel(auth.tenant, b.model);
    let previous: StoredResponse | undefined;
    if (b.previous_response_id != null) {
      previous = await services.store.get(auth.tenant.metadata.name, b.previous_response_id);
      if (!previous) throw responseNotFound(b.previous_response_id, "previous_response_id");
    }
    const policy = auth.tenant.spec.policy;
    const t = translateRequest(b, previous?.conversation ?? [], {
      allowClientSystemPrompt: policy.allowClientSystemPrompt,
    });
    const prepared = prepareChat(deps, auth, t);
    const fileSearch = await searchFiles(services.search, auth, b, t.query);
    if (fileSearch?.context) {
      const messages = prepared.body.messages as unknown[];
      messages.splice(policy.systemPrompt ? 1 : 0, 0, { role: "system", content: fileSearch.context });
    }
    const frame: ResponseFrame = {
      id: itemId("resp"),
      createdAt: Math.floor(Date.now() / 1000),
      model: b.model,
      body: b,
      fileSearch,
    };
    const save = saver(deps, services.store, auth, frame, t);
    return { ...prepared, shaper: shaperFor(frame, save) };
  };
}

/** The chat body through chat's validation and tenant policy, with errors naming Responses fields. */
function prepareChat(deps: RouterDeps, auth: Authenticated, t: TranslatedRequest): PreparedBody {
  try {
    return deps.prepareBody("chat.completions", auth.tenant, t.chat);
  } catch (err) {
    if (!(err instanceof ApiError) || err.param === null) throw err;
    const m = /^messages\[(\d+)\](.*)$/.exec(err.param);
    const origin = m ? t.origins[Number(m[1])] : undefined;
    const param = origin ? (origin.startsWith("input") ? `${origin}${m![2]}` : origin) : renamed(err.param);
    const message = m ? err.message.replaceAll(`messages[${m[1]}]${m[2]}`, param) : err.message;
    throw new ApiError(err.status, message, { code: err.code ?? "invalid_request", param });
  }
}

const renamed = (param: string) =>
  param === "max_tokens" ? "max_output_tokens" : param === "messages" ? "input" : param;

async function searchFiles(
  search: SearchStores | undefined,
  auth: Authenticated,
  b: ResponsesBody,
  query: string,
): Promise<FileSearchRun | undefined> {
  const tool = b.tools?.find((x) => x.type === "file_search");
  if (!tool || b.tool_choice === "none" || query.trim().length === 0) return undefined;
  if (!search)
    throw new ApiError(400, "file_search is not available on this router.", { code: "invalid_request" });
  const include = b.include?.includes(FILE_SEARCH_RESULTS) === true;
  return runFileSearch(search, auth, tool, query, include);
}

type Save = (answer: EngineAnswer, output: Record<string, unknown>[]) => Promise<Record<string, unknown>>;

/**
 * Builds the final Response object and, with store: true, saves it before the client gets it, so
 * a previous_response_id sent right after the answer always finds it. A failed save is logged and
 * the answer still delivered (it was generated and is billed).
 */
function saver(
  deps: RouterDeps,
  store: ResponseStore,
  auth: Authenticated,
  frame: ResponseFrame,
  t: TranslatedRequest,
): Save {
  return async (answer, output) => {
    const response = responseObject(frame, statusOf(answer), output, usageOf(answer.usage));
    if (frame.body.store === false) return response;
    try {
      await store.save(auth.tenant.metadata.name, frame.id, {
        response,
        inputItems: t.inputItems,
        conversation: [...t.conversation, assistantTurn(answer)],
      });
    } catch (err) {
      deps.logger.error(
        { err: (err as Error).message, tenant: auth.tenant.metadata.name, response: frame.id },
        "storing a response failed",
      );
    }
    return response;
  };
}

function shaperFor(frame: ResponseFrame, save: Save): AnswerShaper {
  let stream: ReturnType<typeof createStreamTranslator> | undefined;
  const streaming = () => {
    stream ??= createStreamTranslator(frame, save);
    return stream;
  };
  return {
    async json(engineBody) {
      const answer = answerOfChat(engineBody);
      const output = outputOf(frame, answer);
      return JSON.stringify(await save(answer, output));
    },
    streamStart: () => streaming().start(),
    streamPush: (sse) => streaming().push(sse),
    streamEnd: () => streaming().end(),
    streamError: (e) => streaming().error(e),
  };
}
