import { describe, expect, it } from "vitest";
import { buildCrds } from "./build.ts";
import { toStructural } from "./structural.ts";

describe("CRD generation", () => {
  it("makes every schema node typed and drops what structural schemas forbid", () => {
    const walk = (node: Record<string, unknown>, path: string) => {
      expect(node.type, path).toBeDefined();
      expect(node.additionalProperties === false, path).toBe(false);
      for (const k of ["$schema", "const", "propertyNames", "anyOf", "oneOf"])
        expect(node[k], `${path}.${k}`).toBeUndefined();
      for (const [name, sub] of Object.entries(
        (node.properties ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        walk(sub, `${path}.${name}`);
      }
      if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`);
    };
    for (const crd of buildCrds()) {
      const spec = crd.spec as { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] };
      walk(spec.versions[0]!.schema.openAPIV3Schema, crd.metadata.name);
    }
  });

  it("carries the Tenant's CEL rules, printer columns and short name", () => {
    const tenant = buildCrds().find((c) => c.metadata.name === "tenants.loraplex.io")!;
    const text = JSON.stringify(tenant);
    expect(text).toContain("self.tier != 'dedicated' || has(self.dedicated)");
    expect(text).toContain('"shortNames":["tn"]');
    expect(text).toContain('"subresources":{"status":{}}');
    expect(text).toContain('.status.conditions[?(@.type==\\"Ready\\")].status');
  });

  it("refuses unions, which have no structural form", () => {
    expect(() => toStructural({ anyOf: [{ type: "string" }, { type: "integer" }] })).toThrow("structural");
  });
});
