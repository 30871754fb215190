// Test-cluster plumbing for the controller tests: an admin API client, the CRDs and shipped
// ClusterRoles installed once, and a kubeconfig for a ServiceAccount bound to exactly the
// shipped controller ClusterRole (every controller test runs under it: least privilege).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { parseAllDocuments, parse as parseYaml, stringify } from "yaml";
import { createKubeClient, type KubeClient } from "../../kube/client.ts";
import { loadKubeConfig } from "../../kube/config.ts";
import { type KubeObject, R, type ResourceType } from "../../kube/types.ts";

export const ROOT = resolve(import.meta.dirname, "../..");

const KINDS: Record<string, ResourceType> = {
  CustomResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
  },
  ClusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
  },
  Role: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "roles",
    kind: "Role",
    namespaced: true,
  },
  RoleBinding: R.roleBindings,
  ServiceAccount: R.serviceAccounts,
  Namespace: R.namespaces,
  ModelPool: R.modelPools,
  Tenant: R.tenants,
};

function resourceFor(kind: string): ResourceType {
  const rt = KINDS[kind];
  if (!rt) throw new Error(`test fixture does not know kind ${kind}`);
  return rt;
}

export function readManifests(dir: string): KubeObject[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(ROOT, dir, f), "utf8")).map((d) => d.toJS() as KubeObject),
    )
    .filter((d) => d?.kind);
}

let installed: Promise<void> | undefined;

/** CRDs and the shipped ClusterRoles, once per test file (idempotent across parallel files and suites). */
export function installCrdsAndRoles(admin: KubeClient): Promise<void> {
  installed ??= (async () => {
    const docs = [
      ...readManifests("manifests/crds"),
      ...readManifests("manifests/rbac").filter((d) => d.kind === "ClusterRole"),
    ];
    // Server-side apply with force: other test files (and other suites) install the same CRDs concurrently.
    for (const doc of docs) await admin.apply(resourceFor(doc.kind!), doc);
    for (const crd of docs.filter((d) => d.kind === "CustomResourceDefinition")) {
      await waitFor(`CRD ${crd.metadata.name} established`, async () => {
        const c = await admin.get<
          KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
        >(KINDS.CustomResourceDefinition!, crd.metadata.name!);
        return c?.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") ?? false;
      });
    }
  })();
  return installed;
}

export function adminClient(kubeconfigPath: string): KubeClient {
  return createKubeClient(loadKubeConfig({ kubeconfigPath }), { fieldManager: "loraplex-test" });
}

/**
 * A ServiceAccount in `namespace` bound to the shipped controller ClusterRole (and the shipped
 * leader-election Role, re-homed to `namespace`); returns a kubeconfig path holding its token.
 */
export async function controllerServiceAccountKubeconfig(opts: {
  admin: KubeClient;
  adminKubeconfig: string;
  namespace: string;
  dir: string;
}): Promise<{ kubeconfig: string; cleanup(): Promise<void> }> {
  const { admin, namespace } = opts;
  const sa = "loraplex-controller";
  await admin.create(R.serviceAccounts, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: sa, namespace },
  });
  const bindingName = `loraplex-controller-${namespace}`;
  await admin.create(resourceFor("ClusterRoleBinding"), {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: bindingName },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "loraplex-controller" },
    subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
  });
  for (const doc of readManifests("manifests/rbac").filter(
    (d) => d.kind === "Role" || d.kind === "RoleBinding",
  )) {
    const moved = JSON.parse(
      JSON.stringify(doc).replaceAll('"loraplex-system"', JSON.stringify(namespace)),
    ) as KubeObject;
    await admin.create(resourceFor(doc.kind!), moved);
  }
  const core = loadKubeConfig({ kubeconfigPath: opts.adminKubeconfig }).makeApiClient(CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const adminCfg = parseYaml(readFileSync(opts.adminKubeconfig, "utf8")) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
  };
  const cluster = { ...adminCfg.clusters[0]!.cluster };
  if (typeof cluster["certificate-authority"] === "string") {
    cluster["certificate-authority-data"] = readFileSync(cluster["certificate-authority"] as string).toString(
      "base64",
    );
    delete cluster["certificate-authority"];
  }
  const kubeconfig = join(opts.dir, `${namespace}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "test", cluster }],
      users: [{ name: sa, user: { token: token.status?.token } }],
      contexts: [{ name: "controller", context: { cluster: "test", user: sa } }],
      "current-context": "controller",
    }),
  );
  return {
    kubeconfig,
    async cleanup() {
      await admin.delete(resourceFor("ClusterRoleBinding"), bindingName).catch(() => {});
    },
  };
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | false | undefined>,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== false && v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
