// `make demo` (node scripts/demo.ts): brings up the local stack (see demo-stack.ts), walks
// through it with the official `openai` client — base model and adapters for each sample tenant,
// streamed and not, and acme failing to see or use globex's adapter — prints a summary table,
// then the metering part (demo-usage.ts): per-tenant usage and costs read back through the
// tenant-facing Usage/Costs API, and acme (given a tiny daily cap for the demo only) sending
// requests until the cap refuses one. It stops everything it started and exits 0 only if every
// step behaved as described.
// `make dev` (node scripts/demo.ts --dev): the same stack in the foreground, the sample caps
// unchanged; writes .loraplex/dev.json with the router and dashboard URLs, admin token and
// per-tenant keys, removed on exit.

import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import OpenAI from "openai";
import { sleep } from "../core/sleep.ts";
import { type Stack, startStack } from "./demo-stack.ts";
import { driveTraffic, hitSpendCap, printUsage, tenantUsage } from "./demo-usage.ts";

const ROOT = resolve(import.meta.dirname, "..");
const DEV_JSON = join(ROOT, ".loraplex/dev.json");
const say = (msg: string) => console.log(`• ${msg}`);
/** The tenant that reaches its daily spend cap in the demo, and that cap (USD; the sample's is $100). */
const CAPPED = { tenant: "acme", dailySpendUSD: 0.005 };

type Row = {
  tenant: string;
  model: string;
  stream: boolean;
  replica: string;
  tokens: string;
  ttft: string;
  overhead: string;
};

async function walkthrough(stack: Stack): Promise<Row[]> {
  const rows: Row[] = [];
  const base = stack.tenants[0]!.spec.models[0]!;
  const call = async (tenant: string, model: string, stream: boolean) => {
    const client = new OpenAI({
      apiKey: stack.keys[tenant],
      baseURL: `${stack.routerUrl}/v1`,
      maxRetries: 0,
    });
    const reqId = `demo-${tenant}-${rows.length + 1}`;
    const messages = [{ role: "user" as const, content: "My order #1234 has not arrived. What can I do?" }];
    const started = performance.now();
    let text = "";
    let ttft = "—";
    let tokens = "";
    let headers: Headers;
    if (stream) {
      const { data, response } = await client.chat.completions
        .create(
          { model, messages, max_tokens: 24, stream: true, stream_options: { include_usage: true } },
          { headers: { "x-request-id": reqId } },
        )
        .withResponse();
      headers = response.headers;
      for await (const chunk of data) {
        const piece = chunk.choices[0]?.delta?.content ?? "";
        if (piece && ttft === "—") ttft = `${(performance.now() - started).toFixed(1)} ms`;
        text += piece;
        if (chunk.usage) tokens = `${chunk.usage.prompt_tokens}+${chunk.usage.completion_tokens}`;
        if (chunk.model !== model)
          throw new Error(`stream chunk named model '${chunk.model}', not '${model}'`);
      }
    } else {
      const { data, response } = await client.chat.completions
        .create({ model, messages, max_tokens: 24 }, { headers: { "x-request-id": reqId } })
        .withResponse();
      headers = response.headers;
      text = data.choices[0]?.message.content ?? "";
      tokens = `${data.usage?.prompt_tokens}+${data.usage?.completion_tokens}`;
      if (data.model !== model) throw new Error(`response named model '${data.model}', not '${model}'`);
    }
    if (!text) throw new Error(`${tenant}/${model}: empty answer`);
    say(`${tenant.padEnd(7)} ${model.padEnd(22)} ${stream ? "stream" : "whole "}  "${text.slice(0, 48)}…"`);
    rows.push({
      tenant,
      model,
      stream,
      replica: reqId, // resolved from the router's log once it has been written
      tokens,
      ttft,
      overhead: `${Number(headers.get("x-loraplex-overhead-ms")).toFixed(2)} ms`,
    });
  };

  for (const t of stack.tenants) {
    const name = t.metadata.name;
    const adapter = t.spec.adapters[0]!;
    await call(name, base, false);
    await call(name, base, true);
    await call(name, adapter.name, false); // latest version, cold: loaded through the agent now
    await call(name, adapter.name, true);
    await call(name, `${adapter.name}@${adapter.version}`, false);
  }
  await showIsolation(stack);
  for (const row of rows) row.replica = await replicaOf(stack, row.replica);
  return rows;
}

/** The replica that served a request, from the router's JSON log line for its request id. */
async function replicaOf(stack: Stack, reqId: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const line = stack
      .routerLog()
      .split("\n")
      .find((l) => l.includes(`"reqId":"${reqId}-`) && l.includes('"msg":"request"'));
    if (line) {
      const url = (JSON.parse(line) as { replica?: string }).replica;
      return stack.replicas.find((r) => r.engineUrl === url)?.name ?? "?";
    }
    await sleep(50);
  }
  return "?";
}

/** acme cannot see or use globex's adapter: absent from its model list, and a 404 to call. */
async function showIsolation(stack: Stack): Promise<void> {
  const acme = stack.tenants.find((t) => t.spec.tier === "shared")!.metadata.name;
  const globex = stack.tenants.find((t) => t.spec.tier === "dedicated")!;
  const foreign = `${globex.spec.adapters[0]!.name}@${globex.spec.adapters[0]!.version}`;
  const client = new OpenAI({ apiKey: stack.keys[acme], baseURL: `${stack.routerUrl}/v1`, maxRetries: 0 });
  const ids = (await client.models.list()).data.map((m) => m.id);
  say(`${acme} sees models: ${ids.join(", ")}`);
  if (ids.includes(foreign)) throw new Error(`${acme} can see ${globex.metadata.name}'s ${foreign}`);
  try {
    await client.chat.completions.create({ model: foreign, messages: [{ role: "user", content: "hi" }] });
    throw new Error(`${acme} could use ${globex.metadata.name}'s adapter ${foreign}`);
  } catch (e) {
    if (!(e instanceof OpenAI.NotFoundError)) throw e;
    say(`${acme} asking for ${globex.metadata.name}'s '${foreign}' → ${e.message}`);
  }
}

function printTable(rows: Row[]): void {
  const head = {
    tenant: "tenant",
    model: "model",
    stream: "mode",
    replica: "replica",
    tokens: "tokens (in+out)",
    ttft: "TTFT",
    overhead: "router overhead",
  };
  const cells = [head, ...rows.map((r) => ({ ...r, stream: r.stream ? "stream" : "whole" }))] as Record<
    keyof Row,
    string
  >[];
  const keys = Object.keys(head) as (keyof Row)[];
  const width = keys.map((k) => Math.max(...cells.map((c) => String(c[k]).length)));
  const line = (c: Record<keyof Row, string>) =>
    keys.map((k, i) => String(c[k]).padEnd(width[i]!)).join("  ");
  console.log(`\n${line(cells[0]!)}\n${width.map((w) => "-".repeat(w)).join("  ")}`);
  for (const c of cells.slice(1)) console.log(line(c));
  console.log(
    "\nTTFT is measured by the client (streams only). Router overhead is x-loraplex-overhead-ms: time in\n" +
      "the router excluding waits on engines and agents; a tenant's first request includes its API-key lookup.",
  );
}

async function dev(stack: Stack): Promise<void> {
  const info = {
    routerUrl: stack.routerUrl,
    dashboardUrl: stack.dashboardUrl,
    adminToken: stack.adminToken,
    tenants: Object.fromEntries(
      stack.tenants.map((t) => [
        t.metadata.name,
        {
          apiKey: stack.keys[t.metadata.name],
          adapters: t.spec.adapters
            .flatMap((a) => [a.name, `${a.name}@${a.version}`])
            .filter((v, i, all) => all.indexOf(v) === i),
        },
      ]),
    ),
  };
  await mkdir(join(ROOT, ".loraplex"), { recursive: true });
  await writeFile(DEV_JSON, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  console.log(JSON.stringify(info, null, 2));
  say(`dashboard: ${stack.dashboardUrl} (sign in with a tenant's apiKey)`);
  say(`written to ${DEV_JSON}; logs in .loraplex/demo/*.log; Ctrl-C stops everything`);
  await new Promise<void>((r) => {
    process.once("SIGINT", r);
    process.once("SIGTERM", r);
  });
  await rm(DEV_JSON, { force: true });
}

async function demo(stack: Stack): Promise<void> {
  const rows = await walkthrough(stack);
  printTable(rows);
  const served: Record<string, number> = {};
  for (const r of rows) served[r.tenant] = (served[r.tenant] ?? 0) + 1;
  for (const [tenant, n] of Object.entries(await driveTraffic(stack, say)))
    served[tenant] = (served[tenant] ?? 0) + n;
  say("waiting for the usage spool to reach Postgres, then reading each tenant's usage with its own key");
  printUsage(await tenantUsage(stack, served));
  await hitSpendCap(stack, CAPPED.tenant, say);
  say(`dashboard: ${stack.dashboardUrl} (sign in with a tenant's API key; \`make dev\` keeps it up)`);
}

async function main(): Promise<number> {
  const devMode = process.argv.includes("--dev");
  const port = process.env.LORAPLEX_DEV_PORT ? Number(process.env.LORAPLEX_DEV_PORT) : undefined;
  const stack = await startStack({
    schema: devMode ? "loraplex_dev" : "loraplex_demo",
    routerPort: port,
    limits: devMode ? {} : { [CAPPED.tenant]: { dailySpendUSD: CAPPED.dailySpendUSD } },
    fresh: !devMode,
    trainer: devMode,
    say,
  });
  try {
    if (devMode) await dev(stack);
    else await demo(stack);
    return 0;
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    say("stopping everything the demo started");
    await stack.stop();
  }
}

process.exitCode = await main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  return 1;
});
