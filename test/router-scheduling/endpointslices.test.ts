// EndpointSlice discovery against the real test control plane: replicas of "<ns>/<pool>" are the
// ready endpoints of Service "<pool>-engine" in <ns> — and never a same-named Service's
// endpoints in another namespace (GIE #1869).
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../core/log.ts";
import { createPools, type Pools } from "../../router/scheduling/pools.ts";
import { testKubeConfig } from "../support/kube.ts";
import { type FleetReplica, startReplicas, until } from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

const SERVICE = "shared-engine";

/**
 * The API server refuses loopback IPs in IPv4 slices, and tests may only reach loopback, so the
 * slices use addressType FQDN with the dotted name "127.0.0.1" (a valid DNS subdomain), which
 * resolves to where the replicas listen.
 */
const HOST = "127.0.0.1";
const viaSlice = (url: string) => url.replace("127.0.0.1", HOST);

function port(url: string): number {
  return Number(new URL(url).port);
}

function slice(name: string, r: FleetReplica, ready = true): k8s.V1EndpointSlice {
  return {
    metadata: { name, labels: { "kubernetes.io/service-name": SERVICE } },
    addressType: "FQDN",
    ports: [
      { name: "http", port: port(r.engineUrl), protocol: "TCP" },
      { name: "agent", port: port(r.agentUrl), protocol: "TCP" },
    ],
    endpoints: [{ addresses: [HOST], conditions: { ready } }],
  };
}

describe("router scheduling: EndpointSlice discovery", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const ns = uniqueName("sched-pool");
  const foreignNs = uniqueName("sched-other");
  const poolRef = `${ns}/shared`;
  let local: FleetReplica;
  let foreign: FleetReplica;
  let pools: Pools | undefined;

  beforeAll(async () => {
    [local, foreign] = (await startReplicas(2)) as [FleetReplica, FleetReplica];
    for (const namespace of [ns, foreignNs]) {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      // No selector: the test owns the slices, as the endpointslice controller would for pods.
      await core.createNamespacedService({
        namespace,
        body: {
          metadata: { name: SERVICE, labels: { "loraplex.io/pool": "shared" } },
          spec: {
            ports: [
              { name: "http", port: 8000, protocol: "TCP" },
              { name: "agent", port: 8001, protocol: "TCP" },
            ],
          },
        },
      });
    }
    await discovery.createNamespacedEndpointSlice({ namespace: ns, body: slice("shared-engine-a", local) });
    // Same Service name, other namespace, a live replica behind it: must stay invisible.
    await discovery.createNamespacedEndpointSlice({
      namespace: foreignNs,
      body: slice("shared-engine-a", foreign),
    });
  });
  afterAll(async () => {
    await pools?.close();
    await Promise.all([local?.stop(), foreign?.stop()]);
    await Promise.all([ns, foreignNs].map((name) => core.deleteNamespace({ name }).catch(() => {})));
  });

  const urls = () =>
    pools!
      .replicas()
      .map((r) => r.engineUrl)
      .sort();

  it("finds the pool's replicas in its own namespace only", async () => {
    pools = await createPools({
      kube: { kubeconfigPath: inject("kubeconfigPath") },
      systemNamespace: ns,
      healthIntervalMs: 200,
      logger: createLogger("test", "silent"),
    });
    await pools.watch(poolRef);
    expect(pools.replicas().map((r) => [r.poolRef, r.engineUrl, r.agentUrl, r.healthy])).toEqual([
      [poolRef, viaSlice(local.engineUrl), viaSlice(local.agentUrl), true],
    ]);
    for (let i = 0; i < 10; i++)
      expect(pools.pick(poolRef, undefined)?.engineUrl).toBe(viaSlice(local.engineUrl));
    // Asking for the other namespace's pool watches there: it is a different pool.
    await pools.watch(`${foreignNs}/shared`);
    expect(pools.pick(poolRef, undefined)?.engineUrl).toBe(viaSlice(local.engineUrl));
    expect(pools.pick(`${foreignNs}/shared`, undefined)?.engineUrl).toBe(viaSlice(foreign.engineUrl));
  });

  it("follows slices as they are added, marked not ready and deleted", async () => {
    const p = pools!;
    // A second slice of the same Service in the pool's namespace: a second replica.
    await discovery.createNamespacedEndpointSlice({ namespace: ns, body: slice("shared-engine-b", foreign) });
    const localPool = () => p.replicas().filter((r) => r.poolRef === poolRef);
    await until(() => localPool().length === 2, "the second slice's replica");
    await until(() => localPool().every((r) => r.healthy), "the new replica to pass its first probe");
    const picked = new Set<string>();
    for (let i = 0; i < 10; i++) picked.add(p.pick(poolRef, undefined)!.engineUrl);
    expect([...picked].sort()).toEqual([viaSlice(local.engineUrl), viaSlice(foreign.engineUrl)].sort());

    await discovery.replaceNamespacedEndpointSlice({
      name: "shared-engine-a",
      namespace: ns,
      body: {
        ...slice("shared-engine-a", local, false),
        metadata: { ...slice("shared-engine-a", local).metadata },
      },
    });
    await until(() => localPool().length === 1, "the not-ready endpoint to leave the pool");
    expect(localPool()[0]!.engineUrl).toBe(viaSlice(foreign.engineUrl));

    await discovery.deleteNamespacedEndpointSlice({ name: "shared-engine-b", namespace: ns });
    await until(() => localPool().length === 0, "the deleted slice's replica to leave the pool");
    expect(p.pick(poolRef, undefined)).toBeUndefined();
    expect(urls()).toEqual([viaSlice(foreign.engineUrl)]); // only the other namespace's pool is left
  });
});
