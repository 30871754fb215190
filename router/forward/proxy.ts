// Forwarding one admitted request to an engine replica: pick a replica, make sure the adapter
// is loaded there, send, and relay the answer. A failure before anything reached the client
// (connection refused/reset, an engine 5xx, a failed adapter load) is retried once on another
// replica; once bytes have gone to the client there is no retry: a broken stream ends with an
// error event. Every path returns an Outcome, so the caller can settle exactly once.
import type { ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { ApiError, sendError } from "../../core/errors.ts";
import type { Outcome } from "../../core/request-context.ts";
import { sleep } from "../../core/sleep.ts";
import type { FlowControl, Lane } from "../fairness/flow-control.ts";
import type { RouterMetrics } from "../metrics.ts";
import type { Pools } from "../scheduling/pools.ts";
import type { Replica } from "../scheduling/replica-state.ts";
import type { ForwardJob } from "./job.ts";
import { type Clock, overheadHeader, type Relayed, relayJson, relayStream, upstreamError } from "./relay.ts";
import type { Upstreams } from "./upstreams.ts";

export type ForwardDeps = {
  pools: Pools;
  upstreams: Upstreams;
  metrics: RouterMetrics;
  flow?: FlowControl;
  /**
   * How long a request waits for a healthy replica when its pool has none right now (replicas
   * starting, or briefly failing a probe) before the 503. Default 30 s; 0 answers at once.
   */
  replicaWaitMs?: number;
};

const DEFAULT_REPLICA_WAIT_MS = 30_000;
const REPLICA_POLL_MS = 100;

/** `text`: the completion text, when the job asked for it and the engine answered. */
export type Forwarded = { outcome: Outcome; overheadMs: number; text?: string };

/**
 * A pool with no healthy replica is usually a pool whose replicas are starting (or failed one
 * probe): the request is held, polling the synchronous pick, until one is healthy, the client
 * leaves or replicaWaitMs passes.
 */
async function waitForReplica(
  deps: ForwardDeps,
  job: ForwardJob,
  signal: AbortSignal,
): Promise<Replica | undefined> {
  const deadline = performance.now() + (deps.replicaWaitMs ?? DEFAULT_REPLICA_WAIT_MS);
  while (performance.now() < deadline && !signal.aborted) {
    await sleep(REPLICA_POLL_MS, signal);
    const replica = deps.pools.pick(job.poolRef, job.ctx.model.adapter?.loraName);
    if (replica) return replica;
  }
  return undefined;
}

export async function forward(deps: ForwardDeps, job: ForwardJob, res: ServerResponse): Promise<Forwarded> {
  const { ctx } = job;
  const clock: Clock = { upstreamMs: 0, queuedMs: 0 };
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once("close", onClose);
  let replica: Replica | undefined;
  const finish = ({ text, ...o }: Relayed): Forwarded => {
    const outcome: Outcome = { ...o, replica: replica?.id, durationMs: performance.now() - ctx.receivedAt };
    if (clock.queuedMs > 0) outcome.queueMs = clock.queuedMs;
    if (job.fair !== undefined) deps.flow?.release(job.fair, ctx, outcome, job.outputCharged ?? 0);
    return {
      outcome,
      overheadMs: performance.now() - ctx.receivedAt - clock.upstreamMs - clock.queuedMs,
      text,
    };
  };
  const fail = (err: unknown, status: Outcome["status"]): Forwarded => {
    if (abort.signal.aborted) return finish(disconnected());
    const e = err instanceof ApiError ? err : upstreamError(502, "The engine replica failed.");
    sendError(res, e, { ...job.headers, ...overheadHeader(ctx, clock) });
    return finish({ status, httpStatus: e.status, promptTokens: 0, completionTokens: 0, reason: e.message });
  };

  try {
    // The client may have left while the request was being admitted.
    if (res.destroyed) return finish(disconnected());
    if (deps.flow !== undefined) {
      // Saturated pool: wait for a fair turn (or a 429). Otherwise this is synchronous.
      let turn: Lane | Promise<Lane | undefined> | undefined;
      const t = performance.now();
      try {
        turn = deps.flow.enter(job.poolRef, ctx, res);
        if (turn instanceof Promise) {
          turn = await turn;
          clock.queuedMs = performance.now() - t;
        }
      } catch (err) {
        clock.queuedMs = performance.now() - t;
        return fail(err, "rejected");
      }
      if (turn === undefined) return finish(disconnected());
      job.fair = turn;
    }
    let exclude: Set<string> | undefined;
    let firstFailure: unknown;
    for (let attempt = 0; ; attempt++) {
      const last = attempt > 0;
      replica = deps.pools.pick(job.poolRef, ctx.model.adapter?.loraName, exclude);
      if (!replica && !last) {
        const t = performance.now();
        replica = await waitForReplica(deps, job, abort.signal);
        clock.upstreamMs += performance.now() - t;
        if (abort.signal.aborted) return finish(disconnected());
      }
      if (!replica) {
        // With no second replica to try, the client learns why the first one failed.
        if (last) return fail(firstFailure, "upstream_error");
        const msg = "No healthy engine replica is available for this model right now.";
        return fail(new ApiError(503, msg, { code: "no_healthy_replica" }), "upstream_error");
      }
      const retry = (reason: string, failure: unknown) => {
        exclude = new Set([replica!.id]);
        firstFailure = failure;
        deps.metrics.upstreamRetry(reason);
      };

      // pick → requestStarted → ensureAdapter with no await in between: the next request's pick
      // already counts this one and joins its adapter load instead of starting another.
      deps.pools.requestStarted(replica);
      let ok = false;
      let answered = false; // the engine's first byte (its headers) has arrived
      try {
        if (ctx.model.adapter) {
          const t = performance.now();
          try {
            const r = await deps.pools.ensureAdapter(replica, ctx.tenant.metadata.name, ctx.model.adapter);
            if (r.loaded === "warm") deps.metrics.adapterWarm();
            else if (firstSight(r)) deps.metrics.adapterLoad("loaded", r.ms);
          } catch (err) {
            if (firstSight(err)) deps.metrics.adapterLoad("failed", performance.now() - t);
            // 503: the replica's agent is unavailable, another replica may do. Other refusals
            // (bad adapter, missing in S3) would fail the same everywhere and are not the replica's fault.
            const replicaFault = (err as { status?: number }).status === 503;
            ok = !replicaFault;
            if (replicaFault && !last && !abort.signal.aborted) {
              retry("adapter_agent", err);
              continue;
            }
            return fail(err, "upstream_error");
          } finally {
            clock.upstreamMs += performance.now() - t;
          }
        }
        if (abort.signal.aborted) {
          ok = true;
          return finish(disconnected());
        }
        const t = performance.now();
        let up: Dispatcher.ResponseData;
        try {
          up = await send(deps.upstreams, replica, job, abort.signal);
        } finally {
          clock.upstreamMs += performance.now() - t;
        }
        answered = true;
        if (up.statusCode >= 500 || (up.statusCode === 404 && ctx.model.adapter)) {
          // Nothing has reached the client yet: this replica is at fault, another may answer.
          const text = await up.body.text().catch(() => "");
          if (up.statusCode === 404) {
            // The engine lost the adapter (restart, eviction): reload it on the next pick.
            deps.pools.forgetAdapter(replica, ctx.model.adapter!.loraName);
            ok = true;
          } else if (up.statusCode === 503) {
            // The engine itself says it cannot serve: skip it until a probe passes.
            deps.pools.markFailed(replica, "engine answered 503");
          }
          // Any other 5xx may be this request's doing, so it only counts towards the replica's
          // failure streak (requestFinished): one bad request must not take a replica out.
          const failure = upstreamError(502, engineMessage(text, job, up.statusCode));
          if (!last) {
            retry(`status_${up.statusCode}`, failure);
            continue;
          }
          return fail(failure, "upstream_error");
        }
        const relayed = ctx.stream
          ? await relayStream(job, up, res, clock, abort.signal)
          : await relayJson(job, up, res, clock);
        // An engine 4xx is the request's fault, not the replica's; a disconnect is nobody's.
        ok = relayed.httpStatus < 500;
        return finish(relayed);
      } catch (err) {
        if (abort.signal.aborted) {
          ok = true;
          return finish(disconnected());
        }
        if (isTimeout(err)) {
          return fail(upstreamError(504, "The engine replica did not answer in time."), "timeout");
        }
        deps.pools.markFailed(replica, (err as Error).message ?? "connection failed");
        const failure = upstreamError(
          502,
          answered ? "The engine replica failed mid-answer." : "Could not reach an engine replica.",
        );
        if (!last && !answered) {
          retry(errorCode(err), failure);
          continue;
        }
        return fail(failure, "upstream_error");
      } finally {
        deps.pools.requestFinished(replica, ok);
      }
    }
  } finally {
    res.off("close", onClose);
  }
}

// Requests that join an in-flight load all receive the same result (or error) object; counting
// each object once counts loads, not the requests that waited for them.
const counted = new WeakSet<object>();
function firstSight(v: unknown): boolean {
  if (typeof v !== "object" || v === null || counted.has(v)) return false;
  counted.add(v);
  return true;
}

function send(
  upstreams: Upstreams,
  replica: Replica,
  job: ForwardJob,
  signal: AbortSignal,
): Promise<Dispatcher.ResponseData> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(job.payload)),
    "x-request-id": job.ctx.requestId,
  };
  if (upstreams.authorization) headers.authorization = upstreams.authorization;
  if (job.ctx.stream) headers.accept = "text/event-stream";
  return upstreams.pool(replica.engineUrl).request({
    method: "POST",
    path: job.path,
    headers,
    body: job.payload,
    signal,
  });
}

const disconnected = (): Relayed => ({
  status: "client_disconnect",
  httpStatus: 499,
  promptTokens: 0,
  completionTokens: 0,
  reason: "client closed the connection",
});

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code.toLowerCase() : "connection";
}

/** The engine's own message, with its lora name replaced by the client's model name. */
function engineMessage(text: string, job: ForwardJob, status: number): string {
  let msg = `engine answered HTTP ${status}`;
  try {
    const v = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    const m = v.error?.message ?? v.message;
    if (typeof m === "string") msg = m;
  } catch {}
  return `The engine replica failed: ${msg.replaceAll(job.upstreamModel, job.ctx.model.requested)}`;
}
