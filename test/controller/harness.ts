// One controller environment per test file: its own system namespace (with the shared
// ModelPool), its own Tenant label (the controller's --tenant-selector), its own Postgres schema,
// and controllers run as real `loraplex controller` processes under the least-privilege token.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { tenantNamespace } from "../../core/cluster-layout.ts";
import type { Condition } from "../../core/conditions.ts";
import type { TenantStatus } from "../../core/tenant-status.ts";
import { KubeApiError, type KubeClient } from "../../kube/client.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { freePort, type Proc, startLoraplex } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";
import {
  adminClient,
  controllerServiceAccountKubeconfig,
  installCrdsAndRoles,
  waitFor,
} from "./harness-cluster.ts";

export const RUN_LABEL = "loraplex.io/test-run";

export type TenantObj = KubeObject & { spec: Record<string, unknown>; status?: TenantStatus };

export type Controller = Proc & { port: number; identity: string; metrics(): Promise<string> };

export type ControllerEnv = {
  admin: KubeClient;
  id: string;
  systemNamespace: string;
  dbSchema: string;
  /** kubeconfig of the ServiceAccount bound to exactly the shipped controller ClusterRole */
  controllerKubeconfig: string;
  startController(opts?: {
    identity?: string;
    args?: string[];
    env?: NodeJS.ProcessEnv;
    waitLeader?: boolean;
  }): Promise<Controller>;
  tenantName(prefix: string): string;
  createTenant(name: string, spec: Record<string, unknown>): Promise<TenantObj>;
  getTenant(name: string): Promise<TenantObj | undefined>;
  /** Waits until the Tenant's status reflects its generation and `check` accepts it. */
  waitTenant(
    name: string,
    what: string,
    check: (t: TenantObj) => boolean,
    timeoutMs?: number,
  ): Promise<TenantObj>;
  teardown(): Promise<void>;
};

export function condition(t: { status?: { conditions?: Condition[] } } | undefined, type: string) {
  return t?.status?.conditions?.find((c) => c.type === type);
}

export function isReady(t: TenantObj): boolean {
  return t.status?.observedGeneration === t.metadata.generation && condition(t, "Ready")?.status === "True";
}

/** Sum of the controller's write requests, by resource, from its /metrics. */
export function writesByResource(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metricsText.matchAll(
    /^loraplex_controller_kube_writes_total\{([^}]*)\} (\d+(?:\.\d+)?)/gm,
  )) {
    const resource = /resource="([^"]*)"/.exec(m[1]!)?.[1] ?? "?";
    out[resource] = (out[resource] ?? 0) + Number(m[2]);
  }
  return out;
}

/** Sum of a metric's samples whose labels include all of `labels`. */
export function metricValue(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const m of metricsText.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, "gm"))) {
    const have = m[1] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[2]);
  }
  return sum;
}

export async function setupControllerEnv(prefix: string): Promise<ControllerEnv> {
  const kubeconfigPath = inject("kubeconfigPath");
  const admin = adminClient(kubeconfigPath);
  await installCrdsAndRoles(admin);
  const id = uniqueName(prefix);
  const systemNamespace = `lpx-sys-${id}`;
  const dbSchema = `ctl_${id.replaceAll("-", "_")}`;
  const dir = mkdtempSync(join(tmpdir(), "loraplex-ctl-"));
  await admin.create(R.namespaces, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: systemNamespace },
  });
  await admin.create(R.modelPools, {
    apiVersion: "loraplex.io/v1alpha1",
    kind: "ModelPool",
    metadata: { name: "shared", namespace: systemNamespace },
    spec: { model: "llama-3.1-8b-instruct", replicas: 1, gpusPerReplica: 1 },
  });
  const sa = await controllerServiceAccountKubeconfig({
    admin,
    adminKubeconfig: kubeconfigPath,
    namespace: systemNamespace,
    dir,
  });
  const controllers: Controller[] = [];
  const tenants = new Set<string>();

  const env: ControllerEnv = {
    admin,
    id,
    systemNamespace,
    dbSchema,
    controllerKubeconfig: sa.kubeconfig,
    async startController(opts = {}) {
      const port = await freePort();
      const identity = opts.identity ?? `ctl-${port}`;
      const proc = await startLoraplex(
        [
          "controller",
          "--kubeconfig",
          sa.kubeconfig,
          "--system-namespace",
          systemNamespace,
          "--tenant-selector",
          `${RUN_LABEL}=${id}`,
          "--health-host",
          "127.0.0.1",
          "--health-port",
          String(port),
          "--identity",
          identity,
          "--lease-duration",
          "4s",
          "--renew-deadline",
          "3s",
          "--retry-period",
          "500ms",
          "--workers",
          "4",
          ...(opts.args ?? []),
        ],
        {
          readyUrl: `http://127.0.0.1:${port}/healthz`,
          env: { DATABASE_SCHEMA: dbSchema, ...opts.env },
          name: `controller ${identity}`,
        },
      );
      const ctl: Controller = Object.assign(proc, {
        port,
        identity,
        metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
      });
      controllers.push(ctl);
      if (opts.waitLeader !== false) {
        await waitFor(`${identity} leading with synced caches`, async () => {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`);
          const s = (await r.json()) as { leader: boolean; synced: boolean };
          return s.leader && s.synced;
        });
      }
      return ctl;
    },
    tenantName: (p) => uniqueName(p),
    async createTenant(name, spec) {
      tenants.add(name);
      return admin.create<TenantObj>(R.tenants, {
        apiVersion: "loraplex.io/v1alpha1",
        kind: "Tenant",
        metadata: { name, labels: { [RUN_LABEL]: id } },
        spec,
      });
    },
    getTenant: (name) => admin.get<TenantObj>(R.tenants, name),
    async waitTenant(name, what, check, timeoutMs = 60_000) {
      return waitFor(
        `tenant ${name}: ${what}`,
        async () => {
          const t = await admin.get<TenantObj>(R.tenants, name);
          return t && t.status?.observedGeneration === t.metadata.generation && check(t) ? t : undefined;
        },
        timeoutMs,
      );
    },
    async teardown() {
      // Tenants go while a controller still runs (their finalizers need it); then force the rest.
      await Promise.all([...tenants].map((n) => admin.delete(R.tenants, n).catch(() => false)));
      if (controllers.some((c) => c.child.exitCode === null)) {
        await waitFor(
          "test tenants erased",
          async () => {
            for (const n of tenants) if (await admin.get(R.tenants, n)) return false;
            return true;
          },
          60_000,
        ).catch(() => {});
      }
      await Promise.all(controllers.map((c) => c.stop()));
      for (const n of tenants) {
        await admin
          .jsonPatch(R.tenants, n, undefined, [{ op: "replace", path: "/metadata/finalizers", value: [] }])
          .catch((err) => {
            if (!(err instanceof KubeApiError && err.status === 404)) throw err;
          });
        await admin.delete(R.namespaces, tenantNamespace(n)).catch(() => false);
      }
      await sa.cleanup();
      await admin.delete(R.namespaces, systemNamespace).catch(() => false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}
