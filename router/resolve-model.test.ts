import { describe, expect, it } from "vitest";
import { ApiError } from "../core/errors.ts";
import { loraName } from "../core/storage-layout.ts";
import { acmeLike, adapter, globexLike, makeTenant } from "../test/support/tenants.ts";
import { listModels } from "./api/models.ts";
import { resolveModel } from "./resolve-model.ts";

const acme = acmeLike();
const globex = globexLike();
const known = new Set([...acme.spec.models, ...globex.spec.models]);

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected an ApiError");
}

describe("resolveModel", () => {
  it("resolves an allowed base model without an adapter", () => {
    const r = resolveModel(acme, "llama-3.1-8b-instruct", known);
    expect(r).toEqual({ requested: "llama-3.1-8b-instruct", baseModel: "llama-3.1-8b-instruct" });
  });

  it("resolves an adapter name to its latest version and name@N to that version", () => {
    const latest = resolveModel(acme, "support-bot");
    expect(latest.requested).toBe("support-bot");
    expect(latest.adapter).toMatchObject({ name: "support-bot", version: 2 });
    expect(latest.adapter!.loraName).toBe(loraName("acme", "support-bot", 2));
    const pinned = resolveModel(acme, "support-bot@1");
    expect(pinned).toMatchObject({ requested: "support-bot@1", baseModel: "llama-3.1-8b-instruct" });
    expect(pinned.adapter).toMatchObject({
      version: 1,
      source: "s3://loraplex/tenants/acme/adapters/support-bot/1/",
    });
    expect(pinned.adapter!.loraName).toBe(loraName("acme", "support-bot", 1));
  });

  it("derives the upstream name from the tenant, so equal adapter names never share an engine slot", () => {
    const a = resolveModel(acmeLike("acme"), "support-bot@1").adapter!.loraName;
    const b = resolveModel(
      makeTenant("other", { adapters: [adapter("other", "support-bot", 1)] }),
      "support-bot@1",
    ).adapter!.loraName;
    expect(a).not.toBe(b);
    expect(b).toBe(loraName("other", "support-bot", 1));
  });

  it("answers another tenant's adapters (latest and pinned) exactly like names that do not exist", () => {
    const missing = errorOf(() => resolveModel(acme, "no-such-model", known));
    for (const name of ["legal-bot", "legal-bot@1", "support-bot@3"]) {
      const e = errorOf(() => resolveModel(acme, name, known));
      expect(e.status).toBe(404);
      expect(e.toJSON()).toEqual({
        error: { ...missing.toJSON().error, message: missing.message.replace("no-such-model", name) },
      });
    }
    expect(errorOf(() => resolveModel(globex, "support-bot@1", known)).status).toBe(404);
    expect(errorOf(() => resolveModel(globex, "support-bot@2", known)).status).toBe(404);
  });

  it("gives 403 for a platform base model this tenant may not use, 404 without the catalog", () => {
    const e = errorOf(() => resolveModel(acme, "mistral-7b-instruct", known));
    expect(e.status).toBe(403);
    expect(e.type).toBe("permission_error");
    expect(e.message).toMatch(/not allowed for this tenant/);
    expect(errorOf(() => resolveModel(acme, "mistral-7b-instruct")).status).toBe(404);
  });

  it("rejects non-string and empty models with a 400 naming 'model'", () => {
    for (const m of [undefined, null, 42, ["support-bot"], { name: "x" }, ""]) {
      const e = errorOf(() => resolveModel(acme, m, known));
      expect(e.status).toBe(400);
      expect(e.param).toBe("model");
    }
  });

  it("does not echo a huge model name back in full", () => {
    const e = errorOf(() => resolveModel(acme, "x".repeat(100_000)));
    expect(e.status).toBe(404);
    expect(e.message.length).toBeLessThan(300);
  });

  it("accepts only exact names: no case folding, padding or alternative version spellings", () => {
    for (const m of ["Support-Bot", " support-bot", "support-bot@02", "support-bot@", "support-bot@latest"]) {
      expect(errorOf(() => resolveModel(acme, m)).status).toBe(404);
    }
  });

  it("returns the same object for repeated lookups (no per-request allocation)", () => {
    expect(resolveModel(acme, "support-bot")).toBe(resolveModel(acme, "support-bot"));
  });

  it("sees a changed tenant at once (tables are per Tenant object)", () => {
    const before = makeTenant("acme", { adapters: [{ ...acme.spec.adapters[0]! }] });
    expect(resolveModel(before, "support-bot").adapter!.version).toBe(1);
    expect(resolveModel(acmeLike(), "support-bot").adapter!.version).toBe(2);
  });
});

describe("listModels", () => {
  it("lists only the tenant's base models and adapters, under the names clients use", () => {
    const list = listModels(acme);
    expect(list.object).toBe("list");
    expect(list.data.map((m) => m.id)).toEqual([
      "llama-3.1-8b-instruct",
      "support-bot",
      "support-bot@1",
      "support-bot@2",
    ]);
    for (const m of list.data) expect(m).toMatchObject({ object: "model", owned_by: "acme" });
    expect(list.data.find((m) => m.id === "support-bot")!.parent).toBe("llama-3.1-8b-instruct");
    const globexIds = listModels(globex).data.map((m) => m.id);
    expect(globexIds).toContain("support-bot@3");
    expect(globexIds).not.toContain("support-bot@1");
    expect(JSON.stringify(list)).not.toMatch(/legal-bot|globex|--v/);
  });
});
