// The agent's failures. Every failure the router can see is an AgentFailure with a stable
// `code` (the closed list is core/errors.ts AGENT_ERROR_CODES, which the router passes on), so
// callers branch on the code and humans read the message.
import { type AgentErrorCode, errorTypeFor, type OpenAIErrorType } from "../core/errors.ts";

export class AgentFailure extends Error {
  readonly status: number;
  readonly code: AgentErrorCode;

  constructor(status: number, code: AgentErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }

  get type(): OpenAIErrorType {
    return errorTypeFor(this.status);
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
