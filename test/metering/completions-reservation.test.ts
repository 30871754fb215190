// /v1/completions without max_tokens: the engine generates at most the API's default of 16
// tokens, so that is what the router reserves against a tenant's limits and spend caps. A
// tenant close to its cap is still served (it was refused while the router reserved 4,096).
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueName } from "../support/unique.ts";
import { type MeteredStack, MODEL, startMeteredStack, tenantYaml } from "./harness-routers.ts";

// Room for a short prompt and 16 output tokens, far from room for 4,096.
const TOKENS_PER_MINUTE = 100;
// USD: 16 output tokens cost 0.032 at the harness's PRICE; 4,096 would cost 8.19.
const DAILY_SPEND_USD = 0.5;

describe("/v1/completions without max_tokens near a tenant's caps", () => {
  const tpm = uniqueName("near-tpm");
  const spend = uniqueName("near-spend");
  let stack: MeteredStack;
  const clients: Record<string, OpenAI> = {};

  beforeAll(async () => {
    stack = await startMeteredStack({
      routers: 1,
      tenantsYaml: [
        tenantYaml(tpm, `{tokensPerMinute: ${TOKENS_PER_MINUTE}}`),
        tenantYaml(spend, `{dailySpendUSD: ${DAILY_SPEND_USD}}`),
      ].join("---\n"),
    });
    for (const t of [tpm, spend]) {
      clients[t] = new OpenAI({
        apiKey: await stack.createKey(t),
        baseURL: `${stack.urls[0]}/v1`,
        maxRetries: 0,
      });
    }
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  for (const [what, tenant] of [
    ["tokens per minute", () => tpm],
    ["daily spend", () => spend],
  ] as const) {
    it(`is served under a ${what} cap that 4,096 reserved tokens would exceed`, async () => {
      const client = clients[tenant()]!;
      const done = await client.completions.create({ model: MODEL, prompt: "Say hi" });
      expect(done.usage?.completion_tokens).toBeGreaterThan(0);
      expect(done.usage?.completion_tokens).toBeLessThanOrEqual(16);
      // The cap is live: asking for more output than it leaves room for is refused.
      await expect(
        client.completions.create({ model: MODEL, prompt: "Say hi", max_tokens: 4096 }),
      ).rejects.toMatchObject({ status: 429 });
    });
  }
});
