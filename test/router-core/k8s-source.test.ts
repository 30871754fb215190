// Cluster-mode tenants: the informer source against the real test control plane. Tenants are
// cluster-scoped and other suites create their own, so this file only looks at its own names.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { startK8sTenantSource } from "../../tenants/k8s-source.ts";
import { createTenantStore, type TenantSource } from "../../tenants/tenant-store.ts";
import { testKubeConfig } from "../support/kube.ts";
import { freePort } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";

const GROUP = "loraplex.io";
const VERSION = "v1alpha1";
const CRD_FILES = ["manifests/crds/tenants.loraplex.io.yaml", "manifests/crds/loraplex.io_tenants.yaml"];

const tenant = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "Tenant",
  metadata: { name },
  spec: { models: ["llama-3.1-8b-instruct"], ...spec },
});

/** The project's CRD when it is there; otherwise a minimal one (cluster-wide, so created idempotently). */
async function ensureTenantCrd(kc: k8s.KubeConfig): Promise<void> {
  const file = CRD_FILES.find((f) => existsSync(f));
  if (file) {
    execFileSync(
      inject("kubectl"),
      ["apply", "--server-side", "--force-conflicts", "--field-manager=loraplex-tests", "-f", file],
      { env: { ...process.env, KUBECONFIG: inject("kubeconfigPath") }, stdio: "pipe" },
    );
  } else {
    const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await api
      .createCustomResourceDefinition({
        body: {
          metadata: { name: `tenants.${GROUP}` },
          spec: {
            group: GROUP,
            scope: "Cluster",
            names: { kind: "Tenant", listKind: "TenantList", plural: "tenants", singular: "tenant" },
            versions: [
              {
                name: VERSION,
                served: true,
                storage: true,
                schema: {
                  openAPIV3Schema: {
                    type: "object",
                    properties: { spec: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
                  },
                },
              },
            ],
          },
        },
      })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
  }
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  await vi.waitFor(
    async () => {
      const crd = await api.readCustomResourceDefinition({ name: `tenants.${GROUP}` });
      expect(crd.status?.conditions?.find((c) => c.type === "Established")?.status).toBe("True");
    },
    { timeout: 60_000, interval: 200 },
  );
}

describe("tenants from the Kubernetes API (informer)", () => {
  let kc: k8s.KubeConfig;
  let api: k8s.CustomObjectsApi;
  let source: TenantSource | undefined;
  const store = createTenantStore();
  const created: string[] = [];
  const names = {
    early: uniqueName("rc-early"),
    late: uniqueName("rc-late"),
    odd: uniqueName("rc-odd"),
    bucket: uniqueName("rc-bucket"),
  };
  const waitFor = (fn: () => void) => vi.waitFor(fn, { timeout: 30_000, interval: 50 });

  const create = async (body: ReturnType<typeof tenant>) => {
    await api.createClusterCustomObject({ group: GROUP, version: VERSION, plural: "tenants", body });
    created.push(body.metadata.name);
  };

  beforeAll(async () => {
    kc = testKubeConfig();
    api = kc.makeApiClient(k8s.CustomObjectsApi);
    await ensureTenantCrd(kc);
    await create(tenant(names.early));
  });
  afterAll(async () => {
    await source?.close();
    for (const name of created) {
      await api
        .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: "tenants", name })
        .catch(() => {});
    }
  });

  it("lists existing Tenants before it resolves, then follows additions", async () => {
    source = await startK8sTenantSource({ kubeConfig: kc, store });
    expect(store.get(names.early)?.spec.models).toEqual(["llama-3.1-8b-instruct"]);
    await create(
      tenant(names.late, {
        adapters: [
          {
            name: "support-bot",
            baseModel: "llama-3.1-8b-instruct",
            version: 3,
            source: `s3://loraplex/tenants/${names.late}/adapters/support-bot/3/`,
          },
        ],
      }),
    );
    await waitFor(() => expect(store.get(names.late)?.spec.adapters[0]?.version).toBe(3));
  });

  it("follows updates and deletions", async () => {
    const current = (await api.getClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "tenants",
      name: names.early,
    })) as ReturnType<typeof tenant>;
    current.spec.models = ["llama-3.1-8b-instruct", "mistral-7b-instruct"];
    await api.replaceClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "tenants",
      name: names.early,
      body: current,
    });
    await waitFor(() => expect(store.get(names.early)?.spec.models).toContain("mistral-7b-instruct"));
    expect(store.baseModels().has("mistral-7b-instruct")).toBe(true);

    await api.deleteClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "tenants",
      name: names.early,
    });
    await waitFor(() => expect(store.get(names.early)).toBeUndefined());
  });

  it("keeps a Tenant the API accepted but the schema refuses out of the store, and reports it", async () => {
    // An adapter named like a base model: ambiguous for clients, refused by core/tenant.ts.
    const odd = tenant(names.odd, {
      models: ["llama-3.1-8b-instruct", "support-bot"],
      adapters: [
        {
          name: "support-bot",
          baseModel: "llama-3.1-8b-instruct",
          version: 1,
          source: `s3://loraplex/tenants/${names.odd}/adapters/support-bot/1/`,
        },
      ],
    });
    let refusedByApi = false;
    await create(odd).catch((err: { code?: number }) => {
      if (err.code !== 422) throw err;
      refusedByApi = true; // the CRD learned this rule: the gate holds one step earlier
    });
    if (!refusedByApi) {
      await waitFor(() =>
        expect(store.problems()).toContainEqual(
          expect.objectContaining({
            name: names.odd,
            error: expect.stringMatching(/also a base model name/),
          }),
        ),
      );
    }
    expect(store.get(names.odd)).toBeUndefined();
    expect(store.get(names.late)).toBeDefined();
  });

  it("keeps a Tenant out whose adapter source lies outside its own s3://<bucket>/tenants/<tenant>/adapters/", async () => {
    // The CRD checks the tenant segment (test/controller/bad-specs.test.ts); a bucket other than
    // the tenant's own spec.storage.bucket passes it and is refused here by the shared schema.
    await create(
      tenant(names.bucket, {
        storage: { bucket: "tenant-own-bucket" },
        adapters: [
          {
            name: "support-bot",
            baseModel: "llama-3.1-8b-instruct",
            version: 1,
            source: `s3://loraplex/tenants/${names.bucket}/adapters/support-bot/1/`,
          },
        ],
      }),
    );
    await waitFor(() =>
      expect(store.problems()).toContainEqual({
        source: `tenants.${GROUP}/${names.bucket}`,
        name: names.bucket,
        error: "spec.adapters.0.source: source bucket 'loraplex' is not 'tenant-own-bucket'",
      }),
    );
    expect(store.get(names.bucket)).toBeUndefined();
  });

  it("the sample Tenants pass the API server's own validation", () => {
    const out = execFileSync(
      inject("kubectl"),
      [
        "apply",
        "--dry-run=server",
        "-f",
        "manifests/samples/acme.yaml",
        "-f",
        "manifests/samples/globex.yaml",
      ],
      { env: { ...process.env, KUBECONFIG: inject("kubeconfigPath") }, encoding: "utf8" },
    );
    expect(out).toMatch(/tenant\.loraplex\.io\/acme (created|configured|unchanged) \(server dry run\)/);
    expect(out).toMatch(/tenant\.loraplex\.io\/globex (created|configured|unchanged) \(server dry run\)/);
  });

  it("fails clearly when the API server cannot be reached", async () => {
    const dead = new k8s.KubeConfig();
    dead.loadFromOptions({
      clusters: [{ name: "dead", server: `https://127.0.0.1:${await freePort()}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "c", cluster: "dead", user: "u" }],
      currentContext: "c",
    });
    await expect(
      startK8sTenantSource({ kubeConfig: dead, store: createTenantStore(), syncTimeoutMs: 1_500 }),
    ).rejects.toThrow(/could not list tenants\.loraplex\.io\/v1alpha1 .*is the Tenant CRD installed\?/);
  });
});
