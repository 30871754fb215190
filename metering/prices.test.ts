import { describe, expect, it } from "vitest";
import { formatReset } from "./limits.ts";
import { costOf, findPrice, loadPriceTable, notPriced, parsePriceTable } from "./prices.ts";
import { uuidv7 } from "./usage-events.ts";

describe("price table", () => {
  const table = parsePriceTable({
    models: { "llama-8b": { input: 0.2, output: 0.6 } },
    adapters: {
      "acme/support-bot@3": { input: 0.5, output: 1.5 },
      "acme/support-bot": { input: 0.4, output: 1.2 },
      "*/summarizer": { input: 0.3, output: 0.9 },
    },
  });
  const m = (adapter?: { name: string; version: number }, tenant = "acme") => ({
    tenant,
    baseModel: "llama-8b",
    adapter,
  });

  it("picks the most specific price: adapter version, adapter, any tenant's adapter, base model", () => {
    expect(findPrice(table, m({ name: "support-bot", version: 3 }))?.input).toBe(0.5);
    expect(findPrice(table, m({ name: "support-bot", version: 2 }))?.input).toBe(0.4);
    expect(findPrice(table, m({ name: "summarizer", version: 1 }, "globex"))?.input).toBe(0.3);
    expect(findPrice(table, m({ name: "support-bot", version: 1 }, "globex"))?.input).toBe(0.2);
    expect(findPrice(table, { tenant: "acme", baseModel: "unknown-70b" })).toBeUndefined();
  });

  it("rounds each part up to a whole micro-dollar, exactly", () => {
    expect(costOf({ input: 0.2, output: 0.6 }, 1000, 1000)).toEqual({
      inputMicro: 200_000,
      outputMicro: 600_000,
      totalMicro: 800_000,
    });
    expect(costOf({ input: 0.0001, output: 0 }, 1, 5).inputMicro).toBe(1);
    expect(costOf({ input: 0.2, output: 0.6 }, 0, 0).totalMicro).toBe(0);
  });

  it("refuses unpriced models with a clear error and rejects malformed tables", () => {
    const e = notPriced(m({ name: "x", version: 2 }));
    expect(e.status).toBe(403);
    expect(e.message).toMatch(/adapter 'x' version 2/);
    expect(() => parsePriceTable({ models: { a: { input: -1, output: 0 } } })).toThrow(/models\.a\.input/);
    expect(() => parsePriceTable({ adapters: { "no-slash": { input: 1, output: 1 } } })).toThrow(/adapters/);
    expect(loadPriceTable({ LORAPLEX_PRICES: "models: {m: {input: 1, output: 2}}" }).models.m).toEqual({
      input: 1,
      output: 2,
    });
    expect(() => loadPriceTable({ LORAPLEX_PRICES_FILE: "/nonexistent/prices.yaml" })).toThrow(/cannot read/);
  });
});

describe("small formats", () => {
  it("writes reset durations like OpenAI", () => {
    expect(formatReset(20)).toBe("20ms");
    expect(formatReset(1000)).toBe("1s");
    expect(formatReset(360_000)).toBe("6m0s");
    expect(formatReset(3_723_000)).toBe("1h2m3s");
  });

  it("makes time-ordered UUIDv7 ids", () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
  });
});
