// One admitted request as the forwarder sees it: where it goes, the body it sends upstream, and
// what the relay must do with the answer. Its own file so proxy.ts and relay.ts share it
// without importing each other.
import type { RequestContext } from "../../core/request-context.ts";
import type { Lane } from "../fairness/flow-control.ts";

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
  /** Set by flow control: the fair-share lane the request's tokens are charged to. */
  fair?: Lane;
  /** Output tokens already charged to `fair` while streaming. */
  outputCharged?: number;
};
