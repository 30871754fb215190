import { describe, expect, it } from "vitest";
import { checkAdapterSource, loraName } from "./storage-layout.ts";

describe("adapter source gate", () => {
  it("accepts a source under the tenant's own adapter prefix", () => {
    expect(checkAdapterSource("s3://loraplex/tenants/acme/adapters/bot/1/", "acme", "loraplex")).toEqual({
      ok: true,
      prefix: "tenants/acme/adapters/bot/1/",
    });
  });

  it.each([
    "s3://loraplex/tenants/globex/adapters/bot/1/",
    "s3://loraplex/tenants/acme/adapters/../../globex/adapters/bot/1/",
    "s3://loraplex/tenants/acme/adapters/./x/",
    "s3://loraplex/tenants/acme/adapters//x/",
    "s3://loraplex/tenants/acme/adapters/%2e%2e/x/",
    "s3://other-bucket/tenants/acme/adapters/bot/1/",
    "s3://loraplex/tenants/acme-evil/adapters/bot/1/",
    "s3://loraplex/tenants/acme/adapters/",
    "http://loraplex/tenants/acme/adapters/bot/1/",
    "/etc/passwd",
  ])("rejects %s for tenant acme", (uri) => {
    expect(checkAdapterSource(uri, "acme", "loraplex").ok).toBe(false);
  });

  it("derives distinct engine names that clients cannot steer", () => {
    expect(loraName("acme", "bot", 1)).not.toBe(loraName("acme", "bot", 2));
    expect(loraName("a-b", "c", 1)).not.toBe(loraName("a", "b-c", 1));
    expect(loraName("acme", "bot", 3)).toMatch(/^acme--bot--v3--[0-9a-f]{8}$/);
  });
});
