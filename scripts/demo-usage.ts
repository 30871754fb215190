// The metering part of `make demo`: a little more traffic (with end users and features, as an
// application would send it), then each tenant's usage and costs read back through the
// tenant-facing Usage and Costs API with the tenant's own key — the way an OpenAI client reads
// OpenAI's organization usage — and one tenant sending requests until its daily spend cap
// answers 429 insufficient_quota.

import OpenAI from "openai";
import { sleep } from "../core/sleep.ts";
import type { Stack } from "./demo-stack.ts";

type Say = (msg: string) => void;
type UsagePage = {
  data: { results: { input_tokens: number; output_tokens: number; num_model_requests: number }[] }[];
};
type CostsPage = { data: { results: { amount: { value: number } }[] }[] };
type Summary = { caps: { daily_usd: number | null }; spend: { daily_usd: number } };
export type UsageRow = { tenant: string; requests: number; input: number; output: number; cost: number };

const clientFor = (stack: Stack, tenant: string) =>
  new OpenAI({ apiKey: stack.keys[tenant], baseURL: `${stack.routerUrl}/v1`, maxRetries: 0 });
const ask = (model: string, content: string) => ({
  model,
  messages: [{ role: "user" as const, content }],
  max_tokens: 24,
});

/** A few requests per tenant, tagged with an end user and a feature; returns how many were served. */
export async function driveTraffic(stack: Stack, say: Say): Promise<Record<string, number>> {
  const served: Record<string, number> = {};
  for (const t of stack.tenants) {
    const name = t.metadata.name;
    const client = clientFor(stack, name);
    const models = [t.spec.models[0]!, t.spec.adapters[0]!.name];
    const users = ["alice", "bob", "carol"];
    for (const [i, user] of users.entries()) {
      await client.chat.completions.create(
        { ...ask(models[i % models.length]!, `Where is my parcel? (${user})`), user },
        { headers: { "x-loraplex-feature": i % 2 ? "email-triage" : "chat" } },
      );
      served[name] = (served[name] ?? 0) + 1;
    }
  }
  say(
    `sent ${Object.values(served).reduce((a, b) => a + b, 0)} more requests, tagged with users and features`,
  );
  return served;
}

/**
 * Today's usage and costs of every tenant, read with the tenant's key from
 * /v1/organization/usage/completions and /v1/organization/costs. The router writes usage events
 * off the hot path (Redis spool → Postgres in batches), so this polls until each tenant shows at
 * least `expected` requests.
 */
export async function tenantUsage(stack: Stack, expected: Record<string, number>): Promise<UsageRow[]> {
  const today = Math.floor(Date.now() / 86_400_000) * 86_400;
  const query = { start_time: today, bucket_width: "1d", limit: 1 };
  const rows: UsageRow[] = [];
  for (const t of stack.tenants) {
    const tenant = t.metadata.name;
    const client = clientFor(stack, tenant);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const usage = await client.get<UsagePage>("/organization/usage/completions", { query });
      const costs = await client.get<CostsPage>("/organization/costs", { query });
      const results = usage.data.flatMap((b) => b.results);
      const sum = (f: (r: (typeof results)[number]) => number) => results.reduce((a, r) => a + f(r), 0);
      const row = {
        tenant,
        requests: sum((r) => r.num_model_requests),
        input: sum((r) => r.input_tokens),
        output: sum((r) => r.output_tokens),
        cost: costs.data.flatMap((b) => b.results).reduce((a, r) => a + r.amount.value, 0),
      };
      if (row.requests >= (expected[tenant] ?? 0)) {
        rows.push(row);
        break;
      }
      if (Date.now() > deadline)
        throw new Error(`${tenant}: usage API shows ${row.requests} requests, expected ${expected[tenant]}`);
      await sleep(250);
    }
  }
  return rows;
}

export function printUsage(rows: UsageRow[]): void {
  const cells = [
    ["tenant", "requests", "input tokens", "output tokens", "cost USD"],
    ...rows.map((r) => [r.tenant, r.requests, r.input, r.output, r.cost.toFixed(6)].map(String)),
  ];
  const width = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 0 ? v.padEnd(width[i]!) : v.padStart(width[i]!))).join("  ");
  console.log(`\n${line(cells[0]!)}\n${width.map((w) => "-".repeat(w)).join("  ")}`);
  for (const c of cells.slice(1)) console.log(line(c));
  console.log(
    "\nRead with each tenant's own key from GET /v1/organization/usage/completions and\n" +
      "GET /v1/organization/costs (OpenAI's Usage and Costs API shape), today's 1d bucket.\n",
  );
}

/**
 * Sends requests as `tenant` until the router refuses one with 429 insufficient_quota (at most
 * `max`), then shows the OpenAI error and the tenant's spend against its daily cap.
 */
export async function hitSpendCap(stack: Stack, tenant: string, say: Say, max = 200): Promise<void> {
  const t = stack.tenants.find((x) => x.metadata.name === tenant)!;
  const cap = t.spec.limits?.dailySpendUSD;
  say(`${tenant} has a daily spend cap of $${cap} in this demo; sending requests until it is reached`);
  const client = clientFor(stack, tenant);
  const model = t.spec.adapters[0]!.name;
  for (let n = 1; n <= max; n++) {
    try {
      await client.chat.completions.create(ask(model, `Request ${n}: summarise my open tickets.`));
    } catch (e) {
      if (!(e instanceof OpenAI.RateLimitError) || e.code !== "insufficient_quota") throw e;
      say(`request ${n} → ${e.status} ${e.code} (retry-after ${e.headers?.get("retry-after")} s)`);
      say(`OpenAI error message: ${e.message}`);
      const r = await fetch(`${stack.routerUrl}/v1/dashboard/summary`, {
        headers: { authorization: `Bearer ${stack.keys[tenant]}` },
      });
      const s = (await r.json()) as Summary;
      say(
        `${tenant} spent $${s.spend.daily_usd.toFixed(6)} today of its $${s.caps.daily_usd} daily cap ` +
          `(${((100 * s.spend.daily_usd) / (s.caps.daily_usd ?? 1)).toFixed(1)} %); every further request is refused until the day ends`,
      );
      return;
    }
  }
  throw new Error(`${tenant} sent ${max} requests without reaching its daily cap of $${cap}`);
}
