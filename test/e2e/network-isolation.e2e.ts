// The dedicated tier's network isolation, enforced on the node by kube-router: globex's engine
// and agent ports answer the router only, and globex's Pods reach nothing but object storage.
// Every probe is first shown to connect with the NetworkPolicies removed (the controller
// scaled to zero so it does not put them back), so a refusal below cannot come from a port
// where nothing listens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ENGINE_SELECTOR,
  kubectl,
  kubectlApply,
  loraplexImage,
  readyPods,
  SYSTEM_NS,
  tcpProbe,
  until,
} from "./cluster.ts";

const PROBE_NS = "e2e-netprobe";
const GLOBEX_NS = "tenant-globex";
// The node's forwarders to PostgreSQL, Redis and the S3 server, and its DNS server (the e2e values
// allow tenant pods DNS there through controller.dnsEgressCidrs).
const GW = "10.244.0.1";
const PORTS = { engine: 8000, agent: 8001, postgres: 25432, redis: 26379, s3: 29000, dns: 53 };

type Source = { ns: string; pod: string; container?: string };
type Probe = { name: string; from: Source; host: string; port: number; allowed: boolean };

function podOf(ns: string, selector: string): { name: string; ip: string } {
  const p = readyPods(ns, selector)[0];
  if (!p?.status.podIP) throw new Error(`no Ready Pod ${selector} in ${ns}`);
  return { name: p.metadata.name, ip: p.status.podIP };
}

let probes: Probe[] = [];
let globexSource: Source | undefined; // globex's engine container, for the name lookup
let saved: unknown[] = [];

function controllerReplicas(n: number): void {
  kubectl("-n", SYSTEM_NS, "scale", "deploy/loraplex-controller", `--replicas=${n}`);
}

function restorePolicies(): void {
  for (const p of saved) kubectlApply(p);
  controllerReplicas(1);
}

/** Runs every probe; resolves once each one's outcome is `connected` (or not) as wanted. */
async function expectOutcomes(seconds: number, wantConnected: (p: Probe) => boolean): Promise<void> {
  const settled = new Set<string>();
  await until("every probe as expected", seconds, () => {
    for (const p of probes) {
      if (settled.has(p.name)) continue;
      const out = tcpProbe(p.from.ns, p.from.pod, p.host, p.port, p.from.container);
      if ((out === "connected") === wantConnected(p)) settled.add(p.name);
    }
    return settled.size === probes.length ? true : undefined;
  }).catch((e: Error) => {
    const wrong = probes.filter((p) => !settled.has(p.name)).map((p) => p.name);
    throw new Error(`${e.message}; wrong: ${wrong.join(", ")}`);
  });
}

beforeAll(async () => {
  kubectlApply({
    apiVersion: "v1",
    kind: "Namespace",
    // Looks like a tenant's namespace to any selector on the tenant label.
    metadata: { name: PROBE_NS, labels: { "loraplex.io/tenant": "acme" } },
  });
  kubectlApply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "probe", namespace: PROBE_NS, labels: { app: "probe" } },
    spec: {
      terminationGracePeriodSeconds: 0,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "probe",
          image: loraplexImage(),
          imagePullPolicy: "Never",
          command: ["node", "-e", "setInterval(() => {}, 1 << 30)"],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  });
  kubectl("-n", PROBE_NS, "wait", "--for=condition=Ready", "pod/probe", "--timeout=90s");

  const globex = podOf(GLOBEX_NS, ENGINE_SELECTOR);
  const shared = podOf(SYSTEM_NS, ENGINE_SELECTOR);
  const router = podOf(SYSTEM_NS, "app.kubernetes.io/name=loraplex-router");
  const other: Source = { ns: PROBE_NS, pod: "probe" };
  const sharedEngine: Source = { ns: SYSTEM_NS, pod: shared.name, container: "engine-sim" };
  const routerPod: Source = { ns: SYSTEM_NS, pod: router.name };
  const globexPod: Source = { ns: GLOBEX_NS, pod: globex.name, container: "engine-sim" };
  globexSource = globexPod;
  probes = [
    {
      name: "other namespace -> globex engine",
      from: other,
      host: globex.ip,
      port: PORTS.engine,
      allowed: false,
    },
    {
      name: "other namespace -> globex agent",
      from: other,
      host: globex.ip,
      port: PORTS.agent,
      allowed: false,
    },
    {
      name: "shared engine -> globex engine",
      from: sharedEngine,
      host: globex.ip,
      port: PORTS.engine,
      allowed: false,
    },
    {
      name: "shared engine -> globex agent",
      from: sharedEngine,
      host: globex.ip,
      port: PORTS.agent,
      allowed: false,
    },
    { name: "router -> globex engine", from: routerPod, host: globex.ip, port: PORTS.engine, allowed: true },
    { name: "router -> globex agent", from: routerPod, host: globex.ip, port: PORTS.agent, allowed: true },
    { name: "globex -> postgres", from: globexPod, host: GW, port: PORTS.postgres, allowed: false },
    { name: "globex -> redis", from: globexPod, host: GW, port: PORTS.redis, allowed: false },
    { name: "globex -> shared engine", from: globexPod, host: shared.ip, port: PORTS.engine, allowed: false },
    { name: "globex -> s3", from: globexPod, host: GW, port: PORTS.s3, allowed: true },
    { name: "globex -> dns (tcp)", from: globexPod, host: GW, port: PORTS.dns, allowed: true },
  ];
}, 120_000);

afterAll(() => {
  restorePolicies();
  kubectl("delete", "namespace", PROBE_NS, "--wait=false", "--ignore-not-found");
  kubectl("-n", SYSTEM_NS, "rollout", "status", "deploy/loraplex-controller", "--timeout=90s");
}, 120_000);

describe("network isolation of the dedicated tier", () => {
  it("every probed connection succeeds once the NetworkPolicies are removed", async () => {
    controllerReplicas(0);
    // Gone, not just unready: a terminating controller could still put a policy back.
    await until("the controller stopped", 60, () =>
      kubectl(
        "-n",
        SYSTEM_NS,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=loraplex-controller",
        "-o",
        "name",
      ).trim() === ""
        ? true
        : undefined,
    );
    const policies = (ns: string) =>
      (
        JSON.parse(kubectl("-n", ns, "get", "networkpolicies", "-o", "json")) as {
          items: Record<string, unknown>[];
        }
      ).items;
    saved = [
      ...policies(GLOBEX_NS),
      ...policies(SYSTEM_NS).filter(
        (p) => (p.metadata as { name: string }).name === "loraplex-shared-engines",
      ),
    ].map((p) => {
      const { name, namespace, labels, annotations, ownerReferences } = p.metadata as Record<string, unknown>;
      return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name, namespace, labels, annotations, ownerReferences },
        spec: p.spec,
      };
    });
    expect(saved.length).toBeGreaterThanOrEqual(4);
    kubectl("-n", GLOBEX_NS, "delete", "networkpolicies", "--all");
    kubectl("-n", SYSTEM_NS, "delete", "networkpolicy", "loraplex-shared-engines");
    await expectOutcomes(45, () => true);
  }, 180_000);

  it("with the policies back, globex's ports answer the router only and its Pods reach only S3", async () => {
    restorePolicies();
    await expectOutcomes(45, (p) => p.allowed);
    // And names resolve there (UDP, through the Pod's resolv.conf): DNS is allowed, not only the port.
    const lookup =
      'require("dns").promises.lookup("kubernetes.default.svc.cluster.local")' +
      ".then((a) => console.log(a.address), (e) => console.log(e.code))";
    const globex = globexSource!;
    const resolved = kubectl(
      "-n",
      globex.ns,
      "exec",
      globex.pod,
      "-c",
      globex.container!,
      "--",
      "node",
      "-e",
      lookup,
    );
    expect(resolved.trim()).toMatch(/^10(\.\d+){3}$/);
    // And the controller, back, keeps globex's policies as they are.
    kubectl("-n", SYSTEM_NS, "rollout", "status", "deploy/loraplex-controller", "--timeout=90s");
    for (const name of ["default-deny", "allow-router-to-engine", "allow-dns-and-storage-egress"]) {
      expect(kubectl("-n", GLOBEX_NS, "get", "networkpolicy", name, "-o", "name").trim()).toBe(
        `networkpolicy.networking.k8s.io/${name}`,
      );
    }
  }, 180_000);
});
