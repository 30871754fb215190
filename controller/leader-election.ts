// Leader election over a coordination.k8s.io/v1 Lease, following client-go's protocol so it
// interoperates with the usual tooling: a candidate takes the Lease when it is free or when its
// holder has not renewed it for leaseDuration (measured on the candidate's own clock from when
// it last saw the record change, so clock skew between nodes does not matter); the leader renews
// every retryPeriod and steps down if it cannot renew within renewDeadline; a leader that stops
// cleanly releases the Lease so a standby takes over at once.

import type { Logger } from "../core/log.ts";
import { sleep } from "../core/sleep.ts";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { type KubeObject, R } from "../kube/types.ts";

export type LeaseSpec = {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
};
type Lease = KubeObject & { spec?: LeaseSpec };

export type LeaderElectionOptions = {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
};

/** MicroTime as the API expects it: RFC 3339 with microseconds. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export function validateLeaderTimings(
  o: Pick<LeaderElectionOptions, "leaseDurationMs" | "renewDeadlineMs" | "retryPeriodMs">,
) {
  if (!(o.leaseDurationMs > o.renewDeadlineMs))
    throw new Error("--lease-duration must be greater than --renew-deadline");
  if (!(o.renewDeadlineMs > o.retryPeriodMs))
    throw new Error("--renew-deadline must be greater than --retry-period");
  if (o.retryPeriodMs < 100) throw new Error("--retry-period must be at least 100ms");
}

export function createLeaderElector(opts: LeaderElectionOptions) {
  const { client, log } = opts;
  let observed: { holder: string; renewTime: string; at: number } | undefined;
  let leading = false;
  let lastSpec: LeaseSpec | undefined;
  let lastRv: string | undefined;

  /** One attempt to become or stay leader; true when we hold the Lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const nowTime = microTime(new Date(now));
    const durationS = Math.ceil(opts.leaseDurationMs / 1000);
    const current = await client.get<Lease>(R.leases, opts.name, opts.namespace);
    if (!current) {
      const lease: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: opts.name, namespace: opts.namespace },
        spec: {
          holderIdentity: opts.identity,
          leaseDurationSeconds: durationS,
          acquireTime: nowTime,
          renewTime: nowTime,
          leaseTransitions: 0,
        },
      };
      try {
        const created = await client.create<Lease>(R.leases, lease);
        remember(created, now);
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) return false; // another candidate was faster
        throw err;
      }
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    if (!observed || observed.holder !== holder || observed.renewTime !== (spec.renewTime ?? "")) {
      observed = { holder, renewTime: spec.renewTime ?? "", at: now };
    }
    const heldByOther = holder !== "" && holder !== opts.identity;
    const expiresAt = observed.at + (spec.leaseDurationSeconds ?? durationS) * 1000;
    if (heldByOther && expiresAt > now) return false;

    const next: LeaseSpec = {
      holderIdentity: opts.identity,
      leaseDurationSeconds: durationS,
      renewTime: nowTime,
      acquireTime: holder === opts.identity ? (spec.acquireTime ?? nowTime) : nowTime,
      leaseTransitions:
        holder === opts.identity ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    try {
      const updated = await client.replace<Lease>(R.leases, {
        ...current,
        metadata: stripManaged(current),
        spec: next,
      });
      remember(updated, now);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false; // someone else updated it first
      throw err;
    }
  }

  function remember(lease: Lease, at: number) {
    lastSpec = lease.spec;
    lastRv = lease.metadata.resourceVersion;
    observed = { holder: lease.spec?.holderIdentity ?? "", renewTime: lease.spec?.renewTime ?? "", at };
  }

  return {
    isLeader: () => leading,

    /** Resolves once this process holds the Lease (or never, until `signal` aborts). */
    async acquire(signal: AbortSignal): Promise<boolean> {
      while (!signal.aborted) {
        try {
          if (await tryAcquireOrRenew()) {
            leading = true;
            log.info({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity }, "became leader");
            return true;
          }
        } catch (err) {
          log.warn({ err: (err as Error).message }, "leader election: cannot read or update the Lease");
        }
        // Jitter keeps standbys from hitting the API server in lockstep.
        await sleep(opts.retryPeriodMs * (1 + Math.random() * 0.2), signal);
      }
      return false;
    },

    /**
     * Renews until `signal` aborts (then releases) or a renewal fails for renewDeadline (then
     * resolves "lost": the caller must stop reconciling at once).
     */
    async holdUntil(signal: AbortSignal): Promise<"released" | "lost"> {
      let lastRenew = Date.now();
      while (!signal.aborted) {
        await sleep(opts.retryPeriodMs, signal);
        if (signal.aborted) break;
        let ok = false;
        try {
          ok = await tryAcquireOrRenew();
        } catch (err) {
          log.warn({ err: (err as Error).message }, "leader election: renewal failed");
        }
        if (ok) lastRenew = Date.now();
        else if (!ok && Date.now() - lastRenew >= opts.renewDeadlineMs) {
          leading = false;
          log.error(
            { lease: `${opts.namespace}/${opts.name}` },
            "lost leadership: could not renew the Lease in time",
          );
          return "lost";
        } else if (!ok && observed && observed.holder !== opts.identity) {
          leading = false;
          log.error({ holder: observed.holder }, "lost leadership: another process holds the Lease");
          return "lost";
        }
      }
      await release();
      return "released";
    },
  };

  async function release(): Promise<void> {
    if (!leading || !lastSpec) return;
    leading = false;
    try {
      const nowTime = microTime();
      await client.replace<Lease>(R.leases, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: opts.name, namespace: opts.namespace, resourceVersion: lastRv },
        // An empty holder with a 1 s duration lets a standby take over on its next attempt.
        spec: {
          ...lastSpec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: nowTime,
          acquireTime: nowTime,
        },
      });
      log.info("released the leader Lease");
    } catch (err) {
      log.warn(
        { err: (err as Error).message },
        "could not release the Lease; a standby takes over when it expires",
      );
    }
  }
}

function stripManaged(obj: KubeObject) {
  const { managedFields: _drop, ...meta } = obj.metadata;
  return meta;
}
