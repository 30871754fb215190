// A cold adapter wanted by 50 requests at once, through a real router process: every request
// is answered, and each replica that serves the adapter loads it exactly once (single flight),
// as counted by the adapter agents and by the simulators' own load API.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, scrapeCounter, startStack } from "./harness.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ sharedReplicas: 2, dedicatedReplicas: 0, timeScale: 0.2 });
});
afterAll(async () => {
  await stack?.stop();
});

describe("cold adapter under concurrency", () => {
  it("loads the adapter once per replica for 50 concurrent requests", async () => {
    const c = stack.client(stack.acme);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2
          ? c.chat.completions.create({
              model: "support-bot@1",
              messages: [{ role: "user", content: `question ${i}` }],
              max_tokens: 3,
            })
          : c.chat.completions
              .create({
                model: "support-bot@1",
                messages: [{ role: "user", content: `question ${i}` }],
                max_tokens: 3,
                stream: true,
              })
              .then(async (s) => {
                let text = "";
                for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? "";
                return { model: "support-bot@1", text };
              }),
      ),
    );
    expect(answers).toHaveLength(50);
    for (const a of answers) expect(a.model).toBe("support-bot@1");

    const perReplica = [];
    for (const r of stack.shared) {
      const agentLoads = await scrapeCounter(r.agentUrl, "loraplex_agent_loads_total");
      const engineLoads = await scrapeCounter(
        r.engineUrl,
        "loraplex_sim_lora_api_requests_total",
        'operation="load",status="200"',
      );
      const served = await scrapeCounter(r.engineUrl, "vllm:request_success_total");
      perReplica.push({ agentLoads, engineLoads, served });
    }
    for (const p of perReplica) {
      // A replica that served requests loaded the adapter exactly once; an idle one not at all.
      expect(p.agentLoads).toBe(p.served > 0 ? 1 : 0);
      expect(p.engineLoads).toBe(p.agentLoads);
    }
    const loaded = perReplica.filter((p) => p.agentLoads === 1).length;
    expect(loaded).toBeGreaterThanOrEqual(1);
    expect(perReplica.reduce((a, p) => a + p.served, 0)).toBe(50);
    // The router counts loads, not the requests that waited on them.
    expect(
      await scrapeCounter(stack.metricsUrl, "loraplex_router_adapter_loads_total", 'result="loaded"'),
    ).toBe(loaded);
    expect(
      await scrapeCounter(stack.metricsUrl, "loraplex_router_adapter_loads_total", 'result="failed"'),
    ).toBe(0);
  });
});
