// Errors in OpenAI's JSON shape: {"error": {"message", "type", "param", "code"}}. Every
// rejection on the tenant-facing API goes through here so clients and SDKs parse it.
import type { ServerResponse } from "node:http";

export type OpenAIErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "insufficient_quota"
  | "server_error"
  | "service_unavailable";

/**
 * Every `code` a Loraplex API answers with. Clients branch on these, so the set is closed: a new
 * failure gets a new member here, where its neighbours show whether an existing one fits.
 */
export type OpenAIErrorCode =
  // The request itself
  | "invalid_request"
  | "request_too_large"
  | "method_not_allowed"
  | "unknown_url"
  // Who is asking
  | "missing_api_key"
  | "invalid_api_key"
  | "invalid_admin_token"
  | "auth_unavailable"
  // What they ask for
  | "model_not_found"
  | "model_not_allowed"
  | "model_not_priced"
  | "model_not_available"
  | "tenant_not_found"
  | "key_not_found"
  // Limits and spend caps
  | "rate_limit_exceeded"
  | "insufficient_quota"
  | "limits_unavailable"
  // Engines and adapters
  | "no_healthy_replica"
  | "shutting_down"
  | "engine_rejected"
  | "upstream_error"
  | "upstream_timeout"
  | "adapter_agent_unavailable"
  | "adapter_name_mismatch"
  | "adapter_load_timeout"
  | "adapter_load_failed"
  | `adapter_${AgentErrorCode}`
  // Files and fine-tuning
  | "file_not_found"
  | "file_too_large"
  | "invalid_file"
  | "invalid_file_format"
  | "fine_tuning_disabled"
  | "fine_tuning_job_not_found"
  | "too_many_active_jobs"
  | "job_finished"
  // Vector stores (retrieval)
  | "vector_store_not_found"
  // Responses API
  | "response_not_found"
  | "file_batch_not_found"
  | "retrieval_not_configured"
  | "unsupported_parameter"
  // Usage, costs and audit queries
  | "query_timeout"
  // Hardening (issue 13)
  | "raw_prompts_not_allowed"
  | "client_closed_request"
  | "too_many_uploads"
  | "too_many_failed_authentications"
  | "internal_error";

/**
 * The adapter agent's codes (same JSON shape). The router passes a refusal on as
 * `adapter_<code>`, so they are part of the router's vocabulary too.
 */
const AGENT_ERROR_CODES = [
  "invalid_request",
  "invalid_source",
  "source_outside_tenant",
  "adapter_not_found",
  "checksum_mismatch",
  "invalid_adapter",
  "version_conflict",
  "adapter_too_large",
  "cache_full",
  "s3_unavailable",
  "s3_error",
  "engine_unavailable",
  "engine_error",
  "not_found",
  "internal_error",
] as const;
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];

const agentCodes: ReadonlySet<string> = new Set(AGENT_ERROR_CODES);
export const isAgentErrorCode = (code: unknown): code is AgentErrorCode =>
  typeof code === "string" && agentCodes.has(code);

export class ApiError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly code: OpenAIErrorCode | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: {
      type?: OpenAIErrorType;
      code?: OpenAIErrorCode;
      param?: string;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.status = status;
    this.type = opts.type ?? errorTypeFor(status);
    this.code = opts.code ?? null;
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** The error type that goes with an HTTP status unless a caller says otherwise. */
export function errorTypeFor(status: number): OpenAIErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "service_unavailable";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

// The errors raised in more than one place.
export const invalidRequest = (message: string, param?: string) =>
  new ApiError(400, message, { code: "invalid_request", param });
export const invalidAdminToken = () =>
  new ApiError(401, "Invalid admin token.", { code: "invalid_admin_token" });
export const modelNotFound = (model: string) =>
  new ApiError(404, `The model '${model}' does not exist or you do not have access to it.`, {
    code: "model_not_found",
    param: "model",
  });

/** Writes an ApiError (or any thrown value, as a 500 without internals) as an OpenAI error response. */
export function sendError(
  res: ServerResponse,
  err: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  const e = err instanceof ApiError ? err : new ApiError(500, "internal error", { code: "internal_error" });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(e.toJSON());
  res.writeHead(e.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...extraHeaders,
    ...e.headers,
    // A caller without a valid credential gets its answer and loses the connection: it cannot
    // keep a socket (or a slow body upload) open on the router.
    ...(e.status === 401 ? { connection: "close" } : {}),
  });
  res.end(body);
}
