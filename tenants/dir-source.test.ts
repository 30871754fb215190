// Local-mode tenants: a real directory of YAML files, watched and reloaded on change.
import { mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseTenant } from "../core/tenant.ts";
import { loadTenantDir, startDirTenantSource } from "./dir-source.ts";
import { createTenantStore, type TenantSource } from "./tenant-store.ts";

const tenantYaml = (name: string, extra = "") => `apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata:
  name: ${name}
spec:
  models: [llama-3.1-8b-instruct]
${extra}`;

const poolYaml = `apiVersion: loraplex.io/v1alpha1
kind: ModelPool
metadata:
  name: shared
spec:
  model: llama-3.1-8b-instruct
`;

const waitFor = (fn: () => void) => vi.waitFor(fn, { timeout: 15_000, interval: 20 });

describe("tenants from a directory", () => {
  let dir: string;
  let source: TenantSource | undefined;
  const store = createTenantStore();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lpx-tenants-"));
  });
  afterAll(async () => {
    await source?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("loads multi-document files, ignores other kinds and reports invalid documents", async () => {
    await writeFile(join(dir, "a.yaml"), `${tenantYaml("alpha")}---\n${poolYaml}---\n${tenantYaml("beta")}`);
    await writeFile(join(dir, "bad.yml"), tenantYaml("gamma", "  tier: platinum\n"));
    await writeFile(join(dir, "broken.yaml"), "kind: Tenant\nmetadata: {name: [unclosed\n");
    await writeFile(join(dir, "notes.txt"), tenantYaml("ignored"));
    source = await startDirTenantSource({ dir, store, debounceMs: 20 });
    expect(store.list().map((t) => t.metadata.name)).toEqual(["alpha", "beta"]);
    const problems = store.problems();
    expect(problems).toContainEqual({
      source: "bad.yml#0",
      name: "gamma",
      error: expect.stringMatching(/spec\.tier/),
    });
    expect(problems).toContainEqual({ source: "broken.yaml#0", error: expect.stringMatching(/^YAML: /) });
    expect(problems).toHaveLength(2);
  });

  it("reloads when a file is added, changed (also by rename, as editors save) or removed", async () => {
    let changes = 0;
    store.onChange(() => changes++);
    await writeFile(join(dir, "delta.yaml"), tenantYaml("delta"));
    await waitFor(() => expect(store.get("delta")).toBeDefined());

    await writeFile(
      join(dir, ".delta.tmp"),
      tenantYaml("delta").replace("[llama-3.1-8b-instruct]", "[m1, m2]"),
    );
    await rename(join(dir, ".delta.tmp"), join(dir, "delta.yaml"));
    await waitFor(() => expect(store.get("delta")?.spec.models).toEqual(["m1", "m2"]));

    await writeFile(join(dir, "bad.yml"), tenantYaml("gamma"));
    await waitFor(() => expect(store.get("gamma")).toBeDefined());
    expect(store.problems().map((p) => p.source)).toEqual(["broken.yaml#0"]);

    await rm(join(dir, "a.yaml"));
    await waitFor(() => expect(store.get("alpha")).toBeUndefined());
    expect(store.get("beta")).toBeUndefined();
    expect(changes).toBeGreaterThanOrEqual(4);
  });

  it("drops a tenant whose file became invalid, and reports a duplicate name once", async () => {
    await writeFile(join(dir, "delta.yaml"), tenantYaml("delta", "  adapters: [{name: x}]\n"));
    await waitFor(() => expect(store.get("delta")).toBeUndefined());
    expect(store.problems().find((p) => p.name === "delta")?.error).toMatch(/spec\.adapters\.0/);
    await writeFile(join(dir, "zz-dupe.yaml"), tenantYaml("gamma"));
    await waitFor(() =>
      expect(store.problems().some((p) => /duplicate Tenant 'gamma'/.test(p.error))).toBe(true),
    );
    expect(store.get("gamma")).toBeDefined();
  });

  it("follows a ConfigMap volume: links into ..data, swapped atomically on update", async () => {
    const cm = await mkdtemp(join(tmpdir(), "lpx-configmap-"));
    const own = createTenantStore();
    let cmSource: TenantSource | undefined;
    try {
      for (const [version, model] of [
        ["..v1", "m1"],
        ["..v2", "m2"],
      ] as const) {
        await mkdir(join(cm, version));
        await writeFile(
          join(cm, version, "eps.yaml"),
          tenantYaml("eps").replace("[llama-3.1-8b-instruct]", `[${model}]`),
        );
      }
      await symlink("..v1", join(cm, "..data"));
      await symlink("..data/eps.yaml", join(cm, "eps.yaml"));
      cmSource = await startDirTenantSource({ dir: cm, store: own, debounceMs: 20 });
      expect(own.get("eps")?.spec.models).toEqual(["m1"]);
      await symlink("..v2", join(cm, "..data_tmp"));
      await rename(join(cm, "..data_tmp"), join(cm, "..data"));
      await waitFor(() => expect(own.get("eps")?.spec.models).toEqual(["m2"]));
      expect(own.problems()).toEqual([]);
    } finally {
      await cmSource?.close();
      await rm(cm, { recursive: true, force: true });
    }
  });

  it("fails clearly at start when the directory does not exist", async () => {
    await expect(
      startDirTenantSource({ dir: join(dir, "nope"), store: createTenantStore() }),
    ).rejects.toThrow(/cannot read tenants directory/);
  });
});

describe("what the directory source reacts to and refuses", () => {
  let dir: string;
  let source: TenantSource | undefined;
  const store = createTenantStore();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lpx-tenants-"));
    await writeFile(join(dir, "alpha.yaml"), tenantYaml("alpha"));
    source = await startDirTenantSource({ dir, store, debounceMs: 20 });
  });
  afterAll(async () => {
    await source?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("does not reload when a file that is not a tenant file changes (a log written there)", async () => {
    let reloads = 0;
    const off = store.onChange(() => reloads++);
    try {
      // Each write comes well after the previous debounce window closed: before the fix, every
      // one of them reloaded the directory.
      for (let i = 0; i < 10; i++) {
        await writeFile(join(dir, "router.log"), `line ${i}\n`, { flag: "a" });
        await writeFile(join(dir, "alpha.yaml.swp"), `swap ${i}`);
        await new Promise((r) => setTimeout(r, 60));
      }
      // A real change afterwards is seen, and it is the only reload.
      await writeFile(join(dir, "beta.yaml"), tenantYaml("beta"));
      await waitFor(() => expect(store.get("beta")).toBeDefined());
      expect(reloads).toBe(1);
    } finally {
      off();
    }
  });

  it("reads Tenant documents from *.json files too", async () => {
    const doc = parseAllDocuments(tenantYaml("gamma"))[0]!.toJS();
    await writeFile(join(dir, "gamma.json"), JSON.stringify(doc));
    await waitFor(() => expect(store.get("gamma")?.spec.models).toEqual(["llama-3.1-8b-instruct"]));
  });

  it("refuses a tenant whose adapter source lies outside its own prefix", async () => {
    const adapter = (source: string) =>
      `  adapters: [{name: bot, baseModel: llama-3.1-8b-instruct, version: 1, source: "${source}"}]\n`;
    await writeFile(
      join(dir, "thief.yaml"),
      tenantYaml("thief", adapter("s3://loraplex/tenants/alpha/adapters/support-bot/1/")),
    );
    await writeFile(
      join(dir, "climber.yaml"),
      tenantYaml("climber", adapter("s3://loraplex/tenants/climber/adapters/../../alpha/adapters/x/1/")),
    );
    await writeFile(
      join(dir, "honest.yaml"),
      tenantYaml("honest", adapter("s3://loraplex/tenants/honest/adapters/bot/1/")),
    );
    await waitFor(() => expect(store.get("honest")).toBeDefined());
    expect(store.get("thief")).toBeUndefined();
    expect(store.get("climber")).toBeUndefined();
    const problems = Object.fromEntries(store.problems().map((p) => [p.name, p.error]));
    expect(problems.thief).toBe(
      "spec.adapters.0.source: source must lie under s3://loraplex/tenants/thief/adapters/",
    );
    expect(problems.climber).toMatch(/^spec\.adapters\.0\.source: source path must not contain '\.', '\.\.'/);
  });

  it("refuses a source in another bucket than the tenant's own spec.storage.bucket", () => {
    const r = parseTenant({
      apiVersion: "loraplex.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "acme" },
      spec: {
        models: ["m"],
        storage: { bucket: "acme-data" },
        adapters: [
          { name: "bot", baseModel: "m", version: 1, source: "s3://loraplex/tenants/acme/adapters/bot/1/" },
        ],
      },
    });
    expect(r).toEqual({
      ok: false,
      error: "spec.adapters.0.source: source bucket 'loraplex' is not 'acme-data'",
    });
  });
});

describe("manifests/samples", () => {
  it("holds acme (shared) and globex (dedicated) Tenants that validate", async () => {
    const { tenants, problems } = await loadTenantDir("manifests/samples");
    expect(problems).toEqual([]);
    const acme = tenants.find((t) => t.metadata.name === "acme")!;
    const globex = tenants.find((t) => t.metadata.name === "globex")!;
    expect(acme.spec).toMatchObject({
      tier: "shared",
      models: ["llama-3.1-8b-instruct"],
      policy: { allowClientSystemPrompt: true, maxOutputTokens: 512 },
    });
    expect(acme.spec.adapters.map((a) => [a.name, a.version, a.source])).toEqual([
      ["support-bot", 1, "s3://loraplex/tenants/acme/adapters/support-bot/1/"],
      ["support-bot", 2, "s3://loraplex/tenants/acme/adapters/support-bot/2/"],
    ]);
    expect(globex.spec).toMatchObject({ tier: "dedicated", policy: { allowClientSystemPrompt: false } });
    expect(globex.spec.dedicated).toBeDefined();
    expect(globex.spec.adapters[0]!.source).toMatch(/^s3:\/\/loraplex\/tenants\/globex\//);
    // Every Tenant document in the folder, whatever file it is in, passes the schema.
    for (const file of (await readdir("manifests/samples")).filter((f) => /\.ya?ml$/.test(f))) {
      const text = await readFile(join("manifests/samples", file), "utf8");
      for (const doc of parseAllDocuments(text)) {
        const v = doc.toJS();
        if (v?.kind === "Tenant") expect(parseTenant(v)).toMatchObject({ ok: true });
      }
    }
  });
});
