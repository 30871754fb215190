import { describe, expect, it } from "vitest";
import { acmeLike, globexLike } from "../test/support/tenants.ts";
import { createTenantStore } from "./tenant-store.ts";

describe("tenant store", () => {
  it("serves valid tenants, reports invalid ones and removes a tenant whose document broke", () => {
    const store = createTenantStore();
    let changes = 0;
    store.onChange(() => changes++);
    store.replaceAll([acmeLike(), globexLike()], []);
    expect(store.list().map((t) => t.metadata.name)).toEqual(["acme", "globex"]);
    expect([...store.baseModels()].sort()).toEqual(["llama-3.1-8b-instruct", "mistral-7b-instruct"]);

    const broken = { ...acmeLike(), spec: { ...acmeLike().spec, models: [] } };
    store.applyDocument("acme", "tenants.loraplex.io/acme", broken);
    expect(store.get("acme")).toBeUndefined();
    expect(store.problems()).toEqual([
      { source: "tenants.loraplex.io/acme", name: "acme", error: expect.stringMatching(/spec\.models/) },
    ]);

    store.applyDocument("acme", "tenants.loraplex.io/acme", acmeLike());
    expect(store.get("acme")?.spec.adapters).toHaveLength(2);
    expect(store.problems()).toEqual([]);
    store.remove("globex");
    expect(store.get("globex")).toBeUndefined();
    expect([...store.baseModels()]).toEqual(["llama-3.1-8b-instruct"]);
    expect(changes).toBe(4);
  });

  it("refuses a document whose metadata.name is not the name it was filed under", () => {
    const store = createTenantStore();
    store.applyDocument("globex", "x", acmeLike());
    expect(store.get("globex")).toBeUndefined();
    expect(store.get("acme")).toBeUndefined();
    expect(store.problems()[0]!.error).toMatch(/metadata\.name/);
  });
});
