// The agent's error vocabulary. Every failure the router can see is an AgentFailure with a
// stable `code`, so callers branch on the code and humans read the message.
export type AgentErrorCode =
  | "invalid_request"
  | "invalid_source"
  | "source_outside_tenant"
  | "adapter_not_found"
  | "checksum_mismatch"
  | "invalid_adapter"
  | "version_conflict"
  | "adapter_too_large"
  | "cache_full"
  | "s3_unavailable"
  | "s3_error"
  | "engine_unavailable"
  | "engine_error"
  | "not_found"
  | "internal_error";

export class AgentFailure extends Error {
  readonly status: number;
  readonly code: AgentErrorCode;

  constructor(status: number, code: AgentErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }

  get type(): string {
    if (this.status === 503) return "service_unavailable";
    if (this.status >= 500) return "server_error";
    if (this.status === 404) return "not_found_error";
    if (this.status === 403) return "permission_error";
    return "invalid_request_error";
  }

  toJSON(): { error: { message: string; type: string; code: AgentErrorCode } } {
    return { error: { message: this.message, type: this.type, code: this.code } };
  }
}

/** Any thrown value as an AgentFailure; unknown errors become a 500 that hides internals. */
export function asFailure(err: unknown): AgentFailure {
  if (err instanceof AgentFailure) return err;
  return new AgentFailure(500, "internal_error", "internal error in the adapter agent; see its log");
}
