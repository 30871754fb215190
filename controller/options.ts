// `loraplex controller` flags. Connection settings for S3 and Postgres come from the
// environment (core/config.ts), like every other Loraplex process.

import { isIP } from "node:net";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { DEFAULT_SYSTEM_NAMESPACE } from "../core/cluster-layout.ts";
import type { ServiceConfig } from "../core/config.ts";
import { intFlag } from "../core/flags.ts";
import { DEFAULT_ENGINE_IMAGE, Engine } from "../core/model-pool.ts";
import pkg from "../package.json" with { type: "json" };
import type { ControllerConfig } from "./context.ts";

export const CONTROLLER_USAGE = `usage: loraplex controller [options]

The Kubernetes operator: reconciles Tenant and ModelPool resources with server-side apply,
runs tenant erasure on deletion, and elects a leader through a Lease so replicas can stand by.

  --kubeconfig PATH          cluster to manage (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --system-namespace NS      shared pools, router and controller namespace (default loraplex-system)
  --tenant-selector SEL      handle only Tenants matching this label selector (default: all)
  --workers N                concurrent reconciles (default 8)
  --health-host ADDR         /healthz, /readyz, /metrics listen address (default 0.0.0.0)
  --health-port N            their port (default 8081; 0 picks a free one)
  --no-leader-elect          reconcile without taking the Lease (a single replica only)
  --lease-name NAME          (default loraplex-controller)
  --lease-namespace NS       (default: --system-namespace)
  --lease-duration D         how long a Lease holds without renewal (default 15s)
  --renew-deadline D         the leader steps down if it cannot renew for this long (default 10s)
  --retry-period D           renew / acquire interval (default 2s)
  --identity ID              this candidate's name in the Lease (default: $POD_NAME or host_pid)
  --engine-image IMAGE       default vLLM image (default ${DEFAULT_ENGINE_IMAGE})
  --agent-image IMAGE        adapter agent image, also the engine simulator's (default loraplex/loraplex:${pkg.version})
  --default-engine E         engine of ModelPools without spec.engine: vllm or simulator (default vllm)
  --gpu-resource NAME        GPU extended resource (default nvidia.com/gpu)
  --pod-security LEVEL       Pod Security level enforced on tenant namespaces (default baseline)
  --owner-cluster-role NAME  ClusterRole bound to a dedicated tenant's owners (default loraplex-tenant-owner)
  --router-pod-labels L      labels of router pods, k=v[,k=v] (default app.kubernetes.io/name=loraplex-router)
  --s3-egress-cidrs C        CIDRs engine pods may reach S3 at (default: the S3_ENDPOINT address if it is an IP, else 0.0.0.0/0 on the S3 port only)
  --dns-egress-cidrs C       CIDRs of DNS servers outside Pods that tenant pods may query on port 53, e.g. a
                             NodeLocal DNSCache address (default none: only kube-dns Pods in kube-system)

Environment: S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY,
S3_FORCE_PATH_STYLE, DATABASE_URL, DATABASE_SCHEMA, LOG_LEVEL.`;

export type ControllerOptions = {
  kubeconfig?: string;
  tenantSelector?: string;
  workers: number;
  healthHost: string;
  healthPort: number;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  config: ControllerConfig;
};

/** "15s", "500ms", "2m", or plain milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`${flag} must be a duration like 15s, 500ms or 2m, got '${text}'`);
  const n = Number(m[1]);
  return Math.round(m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n);
}

function parseLabels(flag: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(",").filter(Boolean)) {
    const [k, v, ...extra] = pair.split("=");
    if (!k || v === undefined || extra.length) throw new Error(`${flag}: '${pair}' is not key=value`);
    out[k.trim()] = v.trim();
  }
  if (Object.keys(out).length === 0) throw new Error(`${flag} needs at least one key=value`);
  return out;
}

/** A comma-separated list of CIDRs (address/prefix), as NetworkPolicy ipBlocks take them. */
function cidrList(flag: string, text: string | undefined): string[] {
  const cidrs = (text ?? "").split(",").filter(Boolean);
  for (const c of cidrs) {
    const [addr, prefix, extra] = c.split("/");
    const bits = isIP(addr ?? "") === 4 ? 32 : isIP(addr ?? "") === 6 ? 128 : 0;
    if (!bits || extra !== undefined || !/^\d{1,3}$/.test(prefix ?? "") || Number(prefix) > bits)
      throw new Error(`${flag}: '${c}' is not a CIDR such as 10.0.0.10/32`);
  }
  return cidrs;
}

function defaultEgress(endpoint: string): string[] {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, "");
  const v = isIP(host);
  return [v === 4 ? `${host}/32` : v === 6 ? `${host}/128` : "0.0.0.0/0"];
}

export function parseControllerOptions(argv: string[], env: ServiceConfig): ControllerOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowNegative: true,
    options: {
      help: { type: "boolean", short: "h" },
      kubeconfig: { type: "string" },
      "system-namespace": { type: "string", default: DEFAULT_SYSTEM_NAMESPACE },
      "tenant-selector": { type: "string" },
      workers: { type: "string", default: "8" },
      "health-host": { type: "string", default: "0.0.0.0" },
      "health-port": { type: "string", default: "8081" },
      "leader-elect": { type: "boolean", default: true },
      "lease-name": { type: "string", default: "loraplex-controller" },
      "lease-namespace": { type: "string" },
      "lease-duration": { type: "string", default: "15s" },
      "renew-deadline": { type: "string", default: "10s" },
      "retry-period": { type: "string", default: "2s" },
      identity: { type: "string" },
      "engine-image": { type: "string", default: DEFAULT_ENGINE_IMAGE },
      "agent-image": { type: "string", default: `loraplex/loraplex:${pkg.version}` },
      "default-engine": { type: "string", default: "vllm" },
      "gpu-resource": { type: "string", default: "nvidia.com/gpu" },
      "pod-security": { type: "string", default: "baseline" },
      "owner-cluster-role": { type: "string", default: "loraplex-tenant-owner" },
      "router-pod-labels": { type: "string", default: "app.kubernetes.io/name=loraplex-router" },
      "s3-egress-cidrs": { type: "string" },
      "dns-egress-cidrs": { type: "string" },
    },
  });
  if (values.help) return "help";
  const level = values["pod-security"];
  if (level !== "privileged" && level !== "baseline" && level !== "restricted") {
    throw new Error(`--pod-security must be privileged, baseline or restricted, got '${level}'`);
  }
  const engine = Engine.safeParse(values["default-engine"]);
  if (!engine.success) {
    throw new Error(`--default-engine must be vllm or simulator, got '${values["default-engine"]}'`);
  }
  const systemNamespace = values["system-namespace"];
  const s3Url = new URL(env.S3_ENDPOINT);
  return {
    kubeconfig: values.kubeconfig,
    tenantSelector: values["tenant-selector"],
    workers: intFlag("--workers", values.workers, { min: 1, max: 256 }),
    healthHost: values["health-host"],
    healthPort: intFlag("--health-port", values["health-port"], { min: 0, max: 65535 }),
    leaderElect: values["leader-elect"],
    leaseName: values["lease-name"],
    leaseNamespace: values["lease-namespace"] ?? systemNamespace,
    leaseDurationMs: parseDuration("--lease-duration", values["lease-duration"]),
    renewDeadlineMs: parseDuration("--renew-deadline", values["renew-deadline"]),
    retryPeriodMs: parseDuration("--retry-period", values["retry-period"]),
    config: {
      systemNamespace,
      engineImage: values["engine-image"],
      agentImage: values["agent-image"],
      defaultEngine: engine.data,
      bucket: env.S3_BUCKET,
      s3Endpoint: env.S3_ENDPOINT,
      s3Region: env.S3_REGION,
      s3ForcePathStyle: env.S3_FORCE_PATH_STYLE,
      s3EgressCidrs: values["s3-egress-cidrs"]?.split(",").filter(Boolean) ?? defaultEgress(env.S3_ENDPOINT),
      dnsEgressCidrs: cidrList("--dns-egress-cidrs", values["dns-egress-cidrs"]),
      s3Port: Number(s3Url.port || (s3Url.protocol === "https:" ? 443 : 80)),
      routerPodLabels: parseLabels("--router-pod-labels", values["router-pod-labels"]),
      gpuResource: values["gpu-resource"],
      podSecurityLevel: level,
      ownerClusterRole: values["owner-cluster-role"],
      identity: values.identity ?? process.env.POD_NAME ?? `${hostname()}_${process.pid}`,
    },
  };
}
