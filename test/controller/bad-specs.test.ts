// Bad Tenant specs: what the CRD can check statically (an adapter source outside the tenant's
// prefix included) is rejected by the API server with a clear message; what needs the
// controller's configuration (the default bucket) or more than CEL can say surfaces as a
// Degraded condition, and the controller carries on with other tenants.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError } from "../../kube/client.ts";
import { R } from "../../kube/types.ts";
import {
  type Controller,
  type ControllerEnv,
  condition,
  isReady,
  RUN_LABEL,
  setupControllerEnv,
} from "./harness.ts";

const MODEL = "llama-3.1-8b-instruct";
let env: ControllerEnv;
let controller: Controller;

beforeAll(async () => {
  env = await setupControllerEnv("ctl-bad");
  controller = await env.startController();
});
afterAll(async () => {
  await env?.teardown();
});

async function rejection(name: string, spec: Record<string, unknown>): Promise<string> {
  try {
    await env.admin.create(R.tenants, {
      apiVersion: "loraplex.io/v1alpha1",
      kind: "Tenant",
      metadata: { name, labels: { [RUN_LABEL]: env.id } },
      spec,
    });
  } catch (err) {
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(422);
    return (err as Error).message;
  }
  await env.admin.delete(R.tenants, name);
  throw new Error(`Tenant ${name} was accepted`);
}

const adapter = (source: string) => ({ name: "bot", baseModel: MODEL, version: 1, source });

describe("rejected by the CRD", () => {
  it("an invalid tier", async () => {
    expect(await rejection(env.tenantName("bad"), { tier: "premium", models: [MODEL] })).toContain(
      'Unsupported value: "premium"',
    );
  });

  it("a dedicated tenant without its dedicated block", async () => {
    expect(await rejection(env.tenantName("bad"), { tier: "dedicated", models: [MODEL] })).toContain(
      "tier 'dedicated' requires spec.dedicated",
    );
  });

  it("an adapter source that is not on S3", async () => {
    const name = env.tenantName("bad");
    expect(
      await rejection(name, { models: [MODEL], adapters: [adapter("https://example.com/bot/")] }),
    ).toContain("source must be an s3:// URI");
  });

  it("owners that are not valid RoleBinding subjects", async () => {
    const name = env.tenantName("bad");
    expect(await rejection(name, { models: [MODEL], owners: [{ kind: "Team", name: "x" }] })).toContain(
      'Unsupported value: "Team"',
    );
    expect(
      await rejection(name, { models: [MODEL], owners: [{ kind: "ServiceAccount", name: "ci" }] }),
    ).toContain("a ServiceAccount owner needs a namespace");
    expect(
      await rejection(name, {
        models: [MODEL],
        owners: [{ kind: "ServiceAccount", name: "Bad_Name", namespace: "ci" }],
      }),
    ).toContain("a ServiceAccount owner's name must be a DNS subdomain");
    expect(
      await rejection(name, { models: [MODEL], owners: [{ kind: "Group", name: "system:authenticated" }] }),
    ).toContain("owner names starting with 'system:' belong to Kubernetes itself");
  });

  it("an adapter on a base model the tenant may not use, and a bad tenant name", async () => {
    const name = env.tenantName("bad");
    expect(
      await rejection(name, {
        models: [MODEL],
        adapters: [{ ...adapter(`s3://loraplex/tenants/${name}/adapters/bot/1/`), baseModel: "other-model" }],
      }),
    ).toContain("every adapter's baseModel must be listed in spec.models");
    expect(await rejection(`UPPER-${name}`.slice(0, 40), { models: [MODEL] })).toMatch(
      /metadata.name.*should match/,
    );
  });

  it("an adapter source outside the tenant's own prefix: another tenant's, '..', '%', or no path", async () => {
    const name = env.tenantName("bad");
    const refused = (source: string) => rejection(name, { models: [MODEL], adapters: [adapter(source)] });
    expect(await refused("s3://loraplex/tenants/other/adapters/bot/4/")).toContain(
      "every adapter source must lie under s3://<bucket>/tenants/<this tenant's name>/adapters/",
    );
    // The tenant's name as a prefix of another tenant's is still another tenant.
    expect(await refused(`s3://loraplex/tenants/${name}x/adapters/bot/1/`)).toContain(
      "every adapter source must lie under",
    );
    expect(await refused(`s3://loraplex/tenants/other/adapters/tenants/${name}/adapters/x/`)).toContain(
      "every adapter source must lie under",
    );
    for (const sneaky of [
      `s3://loraplex/tenants/${name}/adapters/../../other/adapters/x/1/`,
      `s3://loraplex/tenants/${name}/adapters/%2e%2e/%2e%2e/other/adapters/x/1/`,
      `s3://loraplex/tenants/${name}/adapters/./bot//1/`,
      `s3://loraplex/tenants/${name}/adapters/`,
      `s3://loraplex/tenants/${name}/models/bot/1/`,
    ]) {
      expect(await refused(sneaky), sneaky).toContain(
        "source must look like s3://<bucket>/tenants/<tenant>/adapters/<path>/",
      );
    }
  });

  it("accepts a source under the tenant's prefix, with or without the trailing '/'", async () => {
    const name = env.tenantName("okay");
    await env.createTenant(name, {
      models: [MODEL],
      adapters: [
        adapter(`s3://loraplex/tenants/${name}/adapters/bot/1/`),
        { ...adapter(`s3://other-bucket/tenants/${name}/adapters/bot/2`), version: 2 },
        { ...adapter(`s3://loraplex/tenants/${name}/adapters/bot/..v3/`), version: 3 },
      ],
    });
    expect((await env.getTenant(name))?.spec.adapters).toHaveLength(3);
  });
});

describe("surfaced as Degraded", () => {
  it("an adapter source in another bucket than the deployment's, which only the controller knows", async () => {
    const name = env.tenantName("deg");
    await env.createTenant(name, {
      models: [MODEL],
      adapters: [
        adapter(`s3://elsewhere/tenants/${name}/adapters/bot/1/`),
        { ...adapter(`s3://loraplex/tenants/${name}/adapters/bot/3/`), version: 3 },
      ],
    });
    const t = await env.waitTenant(name, "Degraded", (x) => condition(x, "Degraded")?.status === "True");
    expect(condition(t, "Degraded")).toMatchObject({ reason: "InvalidAdapter" });
    expect(condition(t, "Degraded")?.message).toContain(
      "adapter bot v1: source bucket 'elsewhere' is not 'loraplex'",
    );
    expect(condition(t, "Ready")).toMatchObject({ status: "False", reason: "InvalidAdapter" });
    expect(t.status?.adaptersReady).toBe(1);
    expect(t.status?.adapters?.map((a) => a.ready)).toEqual([false, true]);

    // Fixing the spec clears it.
    await env.admin.jsonPatch(R.tenants, name, undefined, [
      {
        op: "replace",
        path: "/spec/adapters",
        value: [adapter(`s3://loraplex/tenants/${name}/adapters/bot/1/`)],
      },
    ]);
    const fixed = await env.waitTenant(name, "Ready after the fix", isReady);
    expect(condition(fixed, "Degraded")).toMatchObject({ status: "False" });
  }, 120_000);

  it("a duplicate adapter version, which only the shared schema checks", async () => {
    const name = env.tenantName("dup");
    const a = adapter(`s3://loraplex/tenants/${name}/adapters/bot/1/`);
    await env.createTenant(name, { models: [MODEL], adapters: [a, a] });
    const t = await env.waitTenant(name, "Degraded", (x) => condition(x, "Degraded")?.status === "True");
    expect(condition(t, "Degraded")).toMatchObject({ reason: "InvalidSpec" });
    expect(condition(t, "Degraded")?.message).toContain("duplicate adapter bot@1");
  }, 120_000);

  it("keeps running and reconciling other tenants (no crash loop)", async () => {
    const name = env.tenantName("fine");
    await env.createTenant(name, { models: [MODEL] });
    await env.waitTenant(name, "Ready", isReady);
    expect(controller.child.exitCode).toBeNull();
  }, 120_000);
});
