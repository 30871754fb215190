import { describe, expect, it } from "vitest";
import { textVector } from "./text-vectors.ts";

const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const v = (t: string, id = "base") => textVector(id, t, 256, 256);

describe("simulator embeddings", () => {
  it("are unit vectors that put texts sharing words closest", () => {
    const q = v("how do I reset my password");
    const docs = [
      "Reset your password in Settings",
      "Invoices are issued monthly",
      "Parcels ship in two days",
    ];
    const scores = docs.map((d) => cos(q, v(d)));
    expect(scores.indexOf(Math.max(...scores))).toBe(0);
    expect(Math.hypot(...q)).toBeCloseTo(1, 5);
    // A misspelling still shares most character trigrams.
    expect(cos(v("password"), v("pasword"))).toBeGreaterThan(cos(v("password"), v("invoice")));
  });

  it("are deterministic, differ per model identity, and survive texts without words", () => {
    expect(v("same text")).toEqual(v("same text"));
    expect(cos(v("same text"), v("same text", "adapter"))).toBeLessThan(0.5);
    expect(Math.hypot(...v("!!!"))).toBeCloseTo(1, 5);
    const small = textVector("base", "reset password", 256, 8);
    expect(small).toHaveLength(8);
    expect(Math.hypot(...small)).toBeCloseTo(1, 5);
  });
});
