import { parseArgs } from "node:util";
import { describe, expect, it } from "vitest";
import { intFlag, isUsageError, numberFlag, UsageError } from "./flags.ts";

describe("intFlag", () => {
  it("reads plain decimal integers within the range", () => {
    expect(intFlag("--port", "8080", { min: 0, max: 65535 })).toBe(8080);
    expect(intFlag("--port", " 0 ", { min: 0, max: 65535 })).toBe(0);
    expect(intFlag("--workers", "256", { min: 1, max: 256 })).toBe(256);
    expect(intFlag("--gpus", "3")).toBe(3);
  });

  it("leaves an absent flag undefined so the caller's default applies", () => {
    expect(intFlag("--capacity", undefined, { min: 1 }) ?? 4).toBe(4);
  });

  it("refuses what is not an integer, naming the flag, the range and the value, on one line", () => {
    for (const bad of ["", "abc", "8.5", "1e3", "0x10", "12abc", "99999999999999999999"]) {
      expect(() => intFlag("--port", bad, { min: 0, max: 65535 })).toThrow(
        `--port must be an integer in 0..65535, got '${bad}'`,
      );
    }
  });

  it("refuses integers outside the range", () => {
    expect(() => intFlag("--port", "65536", { min: 0, max: 65535 })).toThrow(
      "--port must be an integer in 0..65535, got '65536'",
    );
    expect(() => intFlag("--poll-ms", "5", { min: 10 })).toThrow(
      "--poll-ms must be an integer ≥ 10, got '5'",
    );
    expect(() => intFlag("--gpus", "-1")).toThrow("--gpus must be an integer ≥ 0, got '-1'");
  });

  it("throws UsageError, so commands answer with their usage text", () => {
    expect(() => intFlag("--rank", "x", { min: 1 })).toThrow(UsageError);
  });
});

describe("numberFlag", () => {
  it("reads finite decimals and refuses the rest", () => {
    expect(numberFlag("--jitter", "0.25")).toBe(0.25);
    expect(numberFlag("--jitter", undefined)).toBeUndefined();
    expect(() => numberFlag("--itl-ms", "fast")).toThrow("--itl-ms must be a number, got 'fast'");
    expect(() => numberFlag("--itl-ms", " ")).toThrow(UsageError);
    expect(() => numberFlag("--itl-ms", "Infinity")).toThrow(UsageError);
  });
});

describe("isUsageError", () => {
  it("recognises UsageError and parseArgs' own errors, and nothing else", () => {
    let parseError: unknown;
    try {
      parseArgs({ args: ["--nope"], options: {}, strict: true });
    } catch (err) {
      parseError = err;
    }
    expect(isUsageError(parseError)).toBe(true);
    expect(isUsageError(new UsageError("--tenant is required"))).toBe(true);
    expect(isUsageError(new Error("connection refused"))).toBe(false);
    expect(isUsageError(undefined)).toBe(false);
  });
});
