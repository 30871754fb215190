import { describe, expect, it } from "vitest";
import { loadAdminToken, loadKeySecret } from "./secrets.ts";

describe("secrets", () => {
  it("requires LORAPLEX_KEY_SECRET unless development secrets are explicitly allowed", () => {
    expect(() => loadKeySecret({})).toThrow(/LORAPLEX_KEY_SECRET is not set.*LORAPLEX_DEV_SECRETS=1/);
    expect(() => loadKeySecret({ LORAPLEX_KEY_SECRET: "short" })).toThrow(/at least 32/);
    const warnings: string[] = [];
    expect(
      loadKeySecret({ LORAPLEX_DEV_SECRETS: "1" }, { warn: (m) => warnings.push(m) }).length,
    ).toBeGreaterThan(32);
    expect(warnings[0]).toMatch(/development key secret/);
    expect(loadKeySecret({ LORAPLEX_KEY_SECRET: "x".repeat(40) }).toString()).toBe("x".repeat(40));
  });

  it("requires an admin token that cannot be mistaken for a tenant key", () => {
    expect(() => loadAdminToken({})).toThrow(/LORAPLEX_ADMIN_TOKEN is not set/);
    expect(() => loadAdminToken({ LORAPLEX_ADMIN_TOKEN: `lpx-${"a".repeat(40)}` })).toThrow(
      /must not start with 'lpx-'/,
    );
    const generated = loadAdminToken({ LORAPLEX_DEV_SECRETS: "1" });
    expect(generated.length).toBeGreaterThanOrEqual(32);
    expect(generated).not.toBe(loadAdminToken({ LORAPLEX_DEV_SECRETS: "1" }));
  });
});
