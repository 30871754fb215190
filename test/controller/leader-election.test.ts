// Two controller processes share one Lease: one leads and reconciles, the other stands by and
// writes nothing but its Lease attempts; kill the leader and the standby takes over once the
// Lease expires; a leader that stops cleanly hands the Lease over at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeObject, R } from "../../kube/types.ts";
import { type ControllerEnv, isReady, setupControllerEnv, writesByResource } from "./harness.ts";
import { waitFor } from "./harness-cluster.ts";

const MODEL = "llama-3.1-8b-instruct";
type Lease = KubeObject & {
  spec?: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
};

let env: ControllerEnv;

beforeAll(async () => {
  env = await setupControllerEnv("ctl-lead");
});
afterAll(async () => {
  await env?.teardown();
});

const lease = () => env.admin.get<Lease>(R.leases, "loraplex-controller", env.systemNamespace);

async function readyz(port: number): Promise<{ leader: boolean; synced: boolean }> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).json() as Promise<{
    leader: boolean;
    synced: boolean;
  }>;
}

describe("leader election", () => {
  it("fails over to the standby when the leader dies, and hands over at once on a clean stop", async () => {
    const a = await env.startController({ identity: "ctl-a" });
    const b = await env.startController({ identity: "ctl-b", waitLeader: false });
    expect((await lease())?.spec?.holderIdentity).toBe("ctl-a");
    expect((await readyz(b.port)).leader).toBe(false);

    const first = env.tenantName("lead1");
    await env.createTenant(first, { tier: "shared", models: [MODEL] });
    await env.waitTenant(first, "Ready via ctl-a", isReady);
    // The standby reads and writes nothing but the Lease.
    expect(Object.keys(writesByResource(await b.metrics()))).toEqual([]);

    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await a.exited;
    const taken = await waitFor(
      "ctl-b holding the Lease",
      async () => {
        const l = await lease();
        return l?.spec?.holderIdentity === "ctl-b" ? l : undefined;
      },
      30_000,
      100,
    );
    console.info(
      `[leader-election] takeover after SIGKILL: ${Date.now() - killedAt} ms (lease duration 4 s)`,
    );
    expect(taken.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
    await waitFor("ctl-b leading with synced caches", async () => {
      const s = await readyz(b.port);
      return s.leader && s.synced;
    });

    const second = env.tenantName("lead2");
    await env.createTenant(second, { tier: "shared", models: [MODEL] });
    await env.waitTenant(second, "Ready via ctl-b", isReady);

    // A clean stop releases the Lease: a new standby takes it without waiting for expiry.
    const c = await env.startController({ identity: "ctl-c", waitLeader: false });
    await b.stop();
    expect(await b.exited).toBe(0);
    await waitFor("ctl-c leading", async () => (await readyz(c.port)).leader, 30_000, 100);
    expect((await lease())?.spec?.holderIdentity).toBe("ctl-c");
  }, 180_000);

  it("rejects lease timings that cannot work", async () => {
    const { startLoraplex } = await import("../support/process.ts");
    const p = await startLoraplex(["controller", "--lease-duration", "2s", "--renew-deadline", "5s"]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain("--lease-duration must be greater than --renew-deadline");
  });
});
