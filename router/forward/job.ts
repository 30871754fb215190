// One admitted request as the forwarder sees it: where it goes, the body it sends upstream, and
// what the relay must do with the answer. Its own file so proxy.ts and relay.ts share it
// without importing each other.

import type { ApiError } from "../../core/errors.ts";
import type { RequestContext } from "../../core/request-context.ts";
import type { Lane } from "../fairness/flow-control.ts";
import type { StreamStats } from "./sse.ts";

/**
 * Turns the engine's chat completion answer into another API's shape on its way to the client
 * (the Responses API: router/responses/). Without one, the answer is relayed as the engine sent it.
 */
export type AnswerShaper = {
  /** A whole engine body (the client's model name already put back) → the client's body. */
  json(engineBody: string): Promise<string>;
  /** Streaming: the events sent before the engine's first. */
  streamStart(): string;
  /** Rewritten engine SSE text (whole events, possibly none) → the client's events. */
  streamPush(sse: string): string;
  /** The closing events once the engine's stream ended well. */
  streamEnd(stats: StreamStats): Promise<string>;
  /** A failure after the stream began, as the client's API reports one. */
  streamError(e: ApiError): string;
};

export type ForwardJob = {
  ctx: RequestContext;
  poolRef: string;
  /** Engine path, e.g. /v1/chat/completions. */
  path: string;
  /** The upstream JSON body, with model, cache_salt and stream_options already set. */
  payload: string;
  upstreamModel: string;
  /** The client asked for stream_options.include_usage itself. */
  keepUsage: boolean;
  /** Added to whatever response this request gets (e.g. the hooks' x-ratelimit-* headers). */
  headers: Record<string, string>;
  /** Collect the completion text for the hooks (audit); otherwise the text is never looked at. */
  collectText: boolean;
  /** Reshapes the answer for the client's API; undefined: relayed as the engine sent it. */
  shaper?: AnswerShaper;
  /** Set by flow control: the fair-share lane the request's tokens are charged to. */
  fair?: Lane;
  /** Output tokens already charged to `fair` while streaming. */
  outputCharged?: number;
};
