// SIGTERM to a router under load (whole and streamed completions over keep-alive connections):
// readiness fails at once, requests still arriving during --shutdown-delay-ms are served, every
// request in flight — streams included — finishes, and the process exits 0. The load stops
// sending new requests once readiness fails, as a Service stops routing to a Pod that is not
// ready; every request it did send must succeed.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RouterProc, startRouterProcess } from "../support/stack.ts";
import { MODEL, type Stack, startStack, until } from "./harness.ts";

const WORKERS = 16;
let stack: Stack;
let router: RouterProc;

beforeAll(async () => {
  // Real engine latencies (time scale 1): a 100-token stream lasts long enough to be cut mid-way.
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0, timeScale: 1 });
  // A second router over the same tenants, keys (same schema) and engine: the one we stop.
  router = await startRouterProcess({
    tenantsDir: stack.tenantsDir,
    engines: `loraplex-system/shared=${stack.shared[0]!.flag}`,
    dbSchema: stack.schema,
    args: ["--shutdown-delay-ms", "1000", "--shutdown-grace-ms", "30000"],
    env: { LORAPLEX_DEV_SECRETS: "1", LOG_LEVEL: "info" },
    name: "router (stopped by the test)",
  });
}, 180_000);
afterAll(async () => {
  await router?.proc.stop();
  await stack?.stop();
});

type Outcome = { stream: boolean; ok: boolean; error?: string; finished?: boolean };

describe("router graceful shutdown", () => {
  it("serves and finishes every request sent until readiness fails, streams included, then exits 0", async () => {
    const client = new OpenAI({
      apiKey: stack.keys[stack.acme],
      baseURL: `${router.url}/v1`,
      maxRetries: 0,
      timeout: 60_000,
    });
    const outcomes: Outcome[] = [];
    let inFlight = 0;
    let streamsStarted = 0;
    let notReady = false;

    async function one(stream: boolean): Promise<void> {
      inFlight++;
      try {
        const messages = [{ role: "user" as const, content: "tell me something" }];
        if (stream) {
          const s = await client.chat.completions.create({
            model: MODEL,
            messages,
            max_tokens: 100,
            stream: true,
          });
          let finish: string | null | undefined;
          let first = true;
          for await (const chunk of s) {
            if (first) streamsStarted++;
            first = false;
            finish = chunk.choices[0]?.finish_reason ?? finish;
          }
          outcomes.push({ stream, ok: true, finished: !!finish });
        } else {
          const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 100 });
          outcomes.push({ stream, ok: true, finished: !!r.choices[0]?.finish_reason });
        }
      } catch (err) {
        outcomes.push({ stream, ok: false, error: (err as Error).message });
      } finally {
        inFlight--;
      }
    }

    // Each worker alternates streamed and whole requests until the router stops being ready.
    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = 0; !notReady; i++) await one((w + i) % 2 === 0);
    });
    const readiness = (async () => {
      while (!notReady) {
        const r = await fetch(`${router.url}/readyz`);
        if (r.status === 503) {
          expect(((await r.json()) as { reasons: string[] }).reasons).toContain("shutting down");
          notReady = true;
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    })();

    await until(() => inFlight >= WORKERS / 2 && streamsStarted >= 2, "streams in flight", 60_000);
    const sentBefore = outcomes.length + inFlight;
    router.proc.child.kill("SIGTERM");
    await readiness;
    await Promise.all(workers);
    const code = await router.proc.exited;

    const failed = outcomes.filter((o) => !o.ok);
    expect(failed).toEqual([]);
    expect(outcomes.every((o) => o.finished)).toBe(true);
    expect(outcomes.length).toBeGreaterThanOrEqual(sentBefore);
    expect(outcomes.filter((o) => o.stream).length).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(router.proc.output()).toContain("router stopped");
  }, 120_000);
});
