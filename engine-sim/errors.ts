// Errors in vLLM's shape: {"error": {"message", "type", "param", "code"}} where `type` is a
// vLLM class-like name ("BadRequestError", "NotFoundError", "InvalidUserInput", ...) and
// `code` is the HTTP status as a number (vLLM's ErrorInfo.code is an int, unlike OpenAI's).
import type { ServerResponse } from "node:http";

export class EngineError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;

  constructor(status: number, message: string, type?: string, param?: string | null) {
    super(message);
    this.status = status;
    this.type = type ?? typeForStatus(status);
    this.param = param ?? null;
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: number } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

function typeForStatus(status: number): string {
  if (status === 404) return "NotFoundError";
  if (status === 413) return "RequestEntityTooLarge";
  if (status === 429) return "RateLimitError";
  if (status === 501) return "NotImplementedError";
  if (status === 503) return "ServiceUnavailableError";
  if (status >= 500) return "InternalServerError";
  return "BadRequestError";
}

/** A request field failed validation; the message carries vLLM's `(parameter=…, value=…)` suffix. */
export function invalidParam(param: string, message: string, value?: unknown): EngineError {
  const shown = value === undefined ? "" : `, value=${describe(value)}`;
  return new EngineError(400, `${message} (parameter=${param}${shown})`, "BadRequestError", param);
}

export function modelNotFound(model: string): EngineError {
  return new EngineError(404, `The model \`${model}\` does not exist.`, "NotFoundError", "model");
}

function describe(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Writes an error response; anything that is not an EngineError becomes a 500 without internals. */
export function sendError(res: ServerResponse, err: unknown): void {
  const e =
    err instanceof EngineError ? err : new EngineError(500, "Internal server error", "InternalServerError");
  if (res.headersSent) {
    // Mid-stream there is no way to change the status; cutting the stream is the honest signal.
    res.destroy();
    return;
  }
  const body = JSON.stringify(e.toJSON());
  res.writeHead(e.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
