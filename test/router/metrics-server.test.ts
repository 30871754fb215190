import type { AddressInfo } from "node:net";
import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetricsServer } from "../../router/metrics-server.ts";

describe("metrics listener with a bearer token", () => {
  const registry = new Registry();
  new Counter({ name: "probe_total", help: "a counter", registers: [registry] }).inc();
  const server = createMetricsServer({ registry, token: "scrape-secret" });
  let url = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("refuses scrapes without the token or with a wrong one", async () => {
    for (const headers of [{}, { authorization: "Bearer nope" }, { authorization: "Bearer scrape-secre" }]) {
      const r = await fetch(url, { headers });
      expect(r.status).toBe(401);
      expect(await r.text()).not.toContain("probe_total");
    }
  });

  it("serves the registry to a scrape with the token, and nothing else", async () => {
    const r = await fetch(url, { headers: { authorization: "Bearer scrape-secret" } });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("probe_total 1");
    expect((await fetch(url.replace("/metrics", "/v1/models"))).status).toBe(404);
  });
});
