import { describe, expect, it } from "vitest";
import { canonicalJson, hashOf, isSubset } from "./apply.ts";

describe("desired ⊆ observed", () => {
  it("ignores fields the API server adds", () => {
    const desired = { spec: { ports: [{ name: "http", port: 8000 }] } };
    const observed = {
      spec: { ports: [{ name: "http", port: 8000, protocol: "TCP" }], clusterIP: "10.0.0.1" },
    };
    expect(isSubset(desired, observed)).toBe(true);
  });

  it("sees drift in a field the controller sets", () => {
    expect(isSubset({ spec: { hard: { pods: "4" } } }, { spec: { hard: { pods: "64" } } })).toBe(false);
    expect(isSubset({ a: [1, 2] }, { a: [1, 2, 3] })).toBe(false);
    expect(isSubset({ a: { b: 1 } }, {})).toBe(false);
  });

  it("compares quantities by value, as the API server rewrites them", () => {
    expect(isSubset({ cpu: "1000m", memory: "1024Mi" }, { cpu: "1", memory: "1Gi" })).toBe(true);
    expect(isSubset({ cpu: "500m" }, { cpu: "1" })).toBe(false);
  });

  it("treats empty desired values as absent ones, which the server drops", () => {
    expect(isSubset({ podSelector: {}, subjects: [], apiGroup: "" }, {})).toBe(true);
    expect(isSubset({ subjects: [] }, { subjects: [{ name: "x" }] })).toBe(false);
  });
});

describe("hash", () => {
  it("does not depend on key order", () => {
    expect(hashOf({ a: 1, b: { c: 2, d: 3 } })).toBe(hashOf({ b: { d: 3, c: 2 }, a: 1 }));
    expect(canonicalJson({ b: 1, a: undefined })).toBe('{"b":1}');
  });
});
