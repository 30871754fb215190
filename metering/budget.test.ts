import { describe, expect, it } from "vitest";
import { periodsAt } from "./budget.ts";

describe("periodsAt", () => {
  it("gives each instant its own UTC day and month, also across the cached day's bounds", () => {
    const lastMs = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
    expect(periodsAt(lastMs)).toMatchObject({
      day: "2026-01-31",
      month: "2026-01",
      dayEndsAt: Date.UTC(2026, 1, 1),
      monthEndsAt: Date.UTC(2026, 1, 1),
    });
    expect(periodsAt(lastMs + 1)).toMatchObject({ day: "2026-02-01", month: "2026-02" });
    // Back to the earlier day (a late settlement): not the day seen last.
    expect(periodsAt(lastMs).day).toBe("2026-01-31");
    expect(periodsAt(Date.UTC(2026, 11, 31, 12)).monthEndsAt).toBe(Date.UTC(2027, 0, 1));
  });
});
