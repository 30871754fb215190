// Which queued fine-tunes start next. Each free slot of the global training capacity goes to the
// tenant with the smallest share of slots in use (running ÷ weight) among those with work queued
// and room under their own cap (spec.limits.maxConcurrentFineTunes); a tie goes to the tenant
// served least recently (round robin), then to the oldest waiting job. So a tenant that queued 100 jobs holds at most an equal
// share while others wait, and a tenant with one job gets the next free slot. Weights give
// priority by tier (dedicated tenants pay for more), without ever letting one tier starve another.
export type Waiting = { id: string; tenant: string };

export type DispatchInput = {
  /** Jobs not yet dispatched, oldest first. */
  waiting: Waiting[];
  /** Jobs dispatched and not finished, per tenant. */
  running: ReadonlyMap<string, number>;
  /** Global training capacity (concurrent jobs across all tenants). */
  capacity: number;
  /** The tenant's own cap; Infinity when it has none, 0 when it may not train. */
  limitOf(tenant: string): number;
  /** The tenant's share weight, > 0. */
  weightOf(tenant: string): number;
  /** When each tenant last had a job dispatched (any increasing clock); absent: never. */
  lastServed?: ReadonlyMap<string, number>;
};

export function planDispatch(input: DispatchInput): Waiting[] {
  const running = new Map(input.running);
  let free = input.capacity;
  for (const n of running.values()) free -= n;
  // Per tenant, its waiting jobs in arrival order; arrival index of each job breaks ties.
  const queues = new Map<string, { job: Waiting; order: number }[]>();
  input.waiting.forEach((job, order) => {
    const q = queues.get(job.tenant) ?? [];
    q.push({ job, order });
    queues.set(job.tenant, q);
  });
  const served = new Map(input.lastServed);
  let clock = Math.max(0, ...served.values());
  const picked: Waiting[] = [];
  while (free > 0) {
    let best: { tenant: string; share: number; last: number; order: number } | undefined;
    for (const [tenant, q] of queues) {
      const head = q[0];
      const used = running.get(tenant) ?? 0;
      if (!head || used >= input.limitOf(tenant)) continue;
      const c = {
        tenant,
        share: used / input.weightOf(tenant),
        last: served.get(tenant) ?? -1,
        order: head.order,
      };
      if (!best || before(c, best)) best = c;
    }
    if (!best) break;
    const next = queues.get(best.tenant)!.shift()!;
    picked.push(next.job);
    running.set(best.tenant, (running.get(best.tenant) ?? 0) + 1);
    served.set(best.tenant, ++clock);
    free--;
  }
  return picked;
}

type Candidate = { share: number; last: number; order: number };
const before = (a: Candidate, b: Candidate) =>
  a.share !== b.share ? a.share < b.share : a.last !== b.last ? a.last < b.last : a.order < b.order;

/** Weight by tier: a dedicated tenant may hold twice the slots of a shared one when both wait. */
export function tierWeight(tier: "shared" | "dedicated"): number {
  return tier === "dedicated" ? 2 : 1;
}
