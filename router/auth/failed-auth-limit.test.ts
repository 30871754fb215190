import { describe, expect, it } from "vitest";
import { createFailedAuthLimit } from "./failed-auth-limit.ts";

describe("failed authentications per source address (issue 13, item 7)", () => {
  it("is exhausted after the limit within a window, per address, and resets with the window", () => {
    let t = 0;
    const limit = createFailedAuthLimit({ limit: 3, windowMs: 1_000, now: () => t });
    for (let i = 0; i < 3; i++) {
      expect(limit.exhausted("10.0.0.1")).toBe(false);
      limit.failed("10.0.0.1");
    }
    expect(limit.exhausted("10.0.0.1")).toBe(true);
    expect(limit.exhausted("10.0.0.2")).toBe(false);
    t += 1_001;
    expect(limit.exhausted("10.0.0.1")).toBe(false);
  });
});
