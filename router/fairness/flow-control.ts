// Flow control in front of each engine pool. Below saturation a request passes straight
// through: enter() returns synchronously with no allocation and no await. Once the pool is
// saturated (this router's in-flight requests fill the replicas' batch limits, less what other
// routers run there, plus one waiting per replica; or every replica reports a full KV cache, or
// a growing engine queue while its batch limit is not known yet),
// requests wait here in one queue per fairness key and are dispatched in VTC order (vtc.ts) as
// slots free up. Queues are bounded in depth and wait (Tenant spec.fairness); past either the
// request gets a 429 and never reaches an engine. A client that disconnects while waiting
// leaves at once, uncharged.
import type { ServerResponse } from "node:http";
import { ApiError } from "../../core/errors.ts";
import { safe } from "../../core/redis-keys.ts";
import type { Outcome, RequestContext } from "../../core/request-context.ts";
import type { Replica } from "../scheduling/replica-state.ts";
import type { FairnessMetrics } from "./metrics.ts";
import { DEFAULT_VTC, jainIndex, Vtc, type VtcClient, type VtcOptions } from "./vtc.ts";

/** KV-cache usage at which a replica counts as full. */
const KV_FULL = 0.95;
const FAIRNESS_WINDOW_MS = 10_000;
/** Requests beyond a replica's batch limit that may wait in the engine itself. */
const HEADROOM = 1;

type Waiter = {
  ctx: RequestContext;
  res: ServerResponse;
  enqueuedAt: number;
  timer: NodeJS.Timeout;
  onClose: () => void;
  resolve(lane: Lane | undefined): void;
  reject(err: ApiError): void;
};

/** One fairness key in one pool; what a dispatched request carries to charge its output. */
export type Lane = {
  readonly pool: FlowPool;
  readonly tenant: string;
  readonly client: VtcClient<Waiter>;
  inputTokens: number;
  outputTokens: number;
  /** Service (units) at the start of the fairness window, and whether it was backlogged in it. */
  windowStart: number;
  windowBacklogged: boolean;
  chargeOutput(tokens: number): void;
};

export type FlowPool = { readonly ref: string; readonly vtc: Vtc<Waiter>; readonly lanes: Map<string, Lane> };

export type FlowControl = {
  /**
   * Admits a request to the pool. Returns its lane at once when the pool has room, else a
   * promise: the lane once dispatched, undefined if the client left while queued. Throws or
   * rejects with a 429 ApiError when the queue is full or the wait too long.
   */
  enter(poolRef: string, ctx: RequestContext, res: ServerResponse): Lane | Promise<Lane | undefined>;
  /**
   * The dispatched request finished (any outcome): the engine's counts replace the estimates
   * (`outputCharged`: output already charged while streaming) and its slot goes to the next.
   */
  release(lane: Lane, ctx: RequestContext, outcome: Outcome, outputCharged: number): void;
  pools(): Iterable<FlowPool>;
  close(): void;
};

export type FlowControlOptions = {
  replicas(poolRef: string): readonly Replica[];
  metrics: FairnessMetrics;
  vtc?: VtcOptions;
  windowMs?: number;
};

export function createFlowControl(opts: FlowControlOptions): FlowControl {
  const pools = new Map<string, FlowPool>();
  const metrics = opts.metrics;

  function poolFor(ref: string): FlowPool {
    let p = pools.get(ref);
    if (p === undefined) {
      p = { ref, vtc: new Vtc<Waiter>(opts.vtc ?? DEFAULT_VTC), lanes: new Map() };
      pools.set(ref, p);
    }
    return p;
  }

  function laneFor(p: FlowPool, ctx: RequestContext): Lane {
    const tenant = ctx.tenant.metadata.name;
    const f = ctx.tenant.spec.fairness;
    // The key comes from the authenticated tenant; the end user only splits it further.
    const key = f.perUser && ctx.endUser !== undefined ? `${tenant}\u0000${ctx.endUser}` : tenant;
    let lane = p.lanes.get(key);
    if (lane === undefined) {
      // The shared counter's name carries a hash of the end user, never the client's string.
      const client = p.vtc.client(key === tenant ? key : `${tenant}\u0000${safe(ctx.endUser!)}`, f.weight);
      const l: Lane = {
        pool: p,
        tenant,
        client,
        inputTokens: 0,
        outputTokens: 0,
        windowStart: 0,
        windowBacklogged: false,
        chargeOutput(tokens) {
          l.outputTokens += tokens;
          p.vtc.chargeOutput(client, tokens);
        },
      };
      lane = l;
      p.lanes.set(key, l);
    }
    lane.client.weight = f.weight;
    return lane;
  }

  /**
   * Whether one more request may go to the pool's engines now. With nothing of ours in flight
   * the answer is always yes: a completion is what wakes the queue, so one must be running.
   */
  function hasRoom(p: FlowPool): boolean {
    const inFlight = p.vtc.inFlight;
    if (inFlight === 0) return true;
    const replicas = opts.replicas(p.ref);
    let room = 0;
    let usable = 0;
    for (let i = 0; i < replicas.length; i++) {
      const r = replicas[i]!;
      if (!r.healthy) continue;
      usable++;
      if (r.kvUsage >= KV_FULL) continue;
      // A known batch limit plus one: the engine always has the next sequence at hand when one
      // finishes, so the router's turnaround never idles a slot (work conservation). Unknown
      // limit: the engine's queue growing is the only sign of saturation.
      if (r.batchLimit !== Number.POSITIVE_INFINITY)
        room += Math.max(0, r.batchLimit + HEADROOM - r.externalLoad);
      else if (!r.waitingRising) return true;
    }
    // No usable replica: nothing to protect; the forward path answers 503 at once.
    return usable === 0 || inFlight < room;
  }

  function start(lane: Lane, ctx: RequestContext): void {
    lane.inputTokens += ctx.promptTokensEstimate;
    lane.pool.vtc.start(lane.client, ctx.promptTokensEstimate);
  }

  function pump(p: FlowPool): void {
    const vtc = p.vtc;
    while (vtc.queued > 0 && hasRoom(p)) {
      const client = vtc.next()!;
      const lane = p.lanes.get(client.key)!;
      const w = vtc.dispatch(client, (x) => x.ctx.promptTokensEstimate);
      lane.inputTokens += w.ctx.promptTokensEstimate;
      settleWaiter(w);
      metrics.queueWait(lane.tenant, performance.now() - w.enqueuedAt);
      w.resolve(lane);
    }
  }

  function settleWaiter(w: Waiter): void {
    clearTimeout(w.timer);
    w.res.off("close", w.onClose);
  }

  function queueFull(p: FlowPool, lane: Lane, reason: "depth" | "wait", detail: string): ApiError {
    metrics.rejected(p.ref, lane.tenant, reason);
    const who = lane.client.key.includes("\u0000")
      ? `tenant '${lane.tenant}' (per user)`
      : `tenant '${lane.tenant}'`;
    const retryAfter = String(Math.max(1, Math.ceil(lane.client.queue.length / 4)));
    return new ApiError(
      429,
      `The fair queue of ${who} on pool '${p.ref}' ${detail}; retry after ${retryAfter} s.`,
      {
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        headers: { "retry-after": retryAfter },
      },
    );
  }

  function enqueue(
    p: FlowPool,
    lane: Lane,
    ctx: RequestContext,
    res: ServerResponse,
  ): Promise<Lane | undefined> {
    const f = ctx.tenant.spec.fairness;
    if (lane.client.queue.length >= f.maxQueueDepth) {
      throw queueFull(p, lane, "depth", `is full (${f.maxQueueDepth} requests waiting)`);
    }
    return new Promise<Lane | undefined>((resolve, reject) => {
      const w: Waiter = {
        ctx,
        res,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          if (!p.vtc.remove(lane.client, w)) return;
          settleWaiter(w);
          reject(queueFull(p, lane, "wait", `did not reach an engine within ${f.maxQueueWaitSeconds} s`));
        }, f.maxQueueWaitSeconds * 1000),
        onClose: () => {
          if (!p.vtc.remove(lane.client, w)) return;
          settleWaiter(w);
          metrics.rejected(p.ref, lane.tenant, "disconnect");
          resolve(undefined);
        },
      };
      res.once("close", w.onClose);
      p.vtc.enqueue(lane.client, w);
      lane.windowBacklogged = true;
    });
  }

  // Jain's index over the weighted service of the keys backlogged during each window.
  const window = setInterval(() => {
    for (const p of pools.values()) {
      const xs: number[] = [];
      for (const lane of p.lanes.values()) {
        const c = lane.client;
        if (lane.windowBacklogged) xs.push((c.served - lane.windowStart) / c.weight);
        lane.windowStart = c.served;
        lane.windowBacklogged = p.vtc.isBacklogged(c);
      }
      if (xs.length >= 2) metrics.fairnessIndex(p.ref, jainIndex(xs));
    }
  }, opts.windowMs ?? FAIRNESS_WINDOW_MS);
  window.unref();

  return {
    enter(poolRef, ctx, res) {
      const p = poolFor(poolRef);
      const lane = laneFor(p, ctx);
      if (p.vtc.queued === 0 && hasRoom(p)) {
        start(lane, ctx);
        return lane;
      }
      if (res.destroyed) return Promise.resolve(undefined);
      return enqueue(p, lane, ctx, res);
    },
    release(lane, ctx, outcome, outputCharged) {
      const vtc = lane.pool.vtc;
      vtc.finish(lane.client);
      // The engine's counts replace the estimate; a request that produced nothing costs nothing.
      // Output already streamed was served, even if the client then left: it is never refunded.
      const prompt =
        outcome.promptTokens > 0 || outputCharged === 0 ? outcome.promptTokens : ctx.promptTokensEstimate;
      const inputDelta = prompt - ctx.promptTokensEstimate;
      if (inputDelta !== 0) {
        lane.inputTokens += inputDelta;
        vtc.correctInput(lane.client, inputDelta);
      }
      const outputDelta = outcome.completionTokens - outputCharged;
      if (outputDelta > 0) lane.chargeOutput(outputDelta);
      if (vtc.queued > 0) pump(lane.pool);
    },
    pools: () => pools.values(),
    close() {
      clearInterval(window);
      for (const p of pools.values()) {
        for (const c of p.vtc.clients()) {
          for (const w of [...c.queue]) {
            p.vtc.remove(c, w);
            settleWaiter(w);
            w.reject(new ApiError(503, "The router is shutting down.", { code: "shutting_down" }));
          }
        }
      }
    },
  };
}
