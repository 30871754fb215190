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

export class ApiError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { type?: OpenAIErrorType; code?: string; param?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.type = opts.type ?? defaultType(status);
    this.code = opts.code ?? null;
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function defaultType(status: number): OpenAIErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "service_unavailable";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export const invalidBody = (message: string, param?: string) =>
  new ApiError(400, message, { code: "invalid_request", param });
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
  });
  res.end(body);
}
