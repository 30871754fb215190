// A router rolling upgrade under load: `helm upgrade` rolls the router Deployment (a changed
// pod annotation) while a steady 50 requests/s (acme's, every third one streamed) go through the
// router's Service; no request may fail. acme's rate and concurrency limits are raised for the
// test (a rollout on 2 busy cores takes tens of seconds, longer than 1,200 requests a minute
// last) and put back after it. The counts are printed for the note.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE, client, env, kubectl, messages, SYSTEM_NS, until } from "./cluster.ts";

const RATE = 50; // requests per second, open loop
const AFTER_ROLL_MS = 3000; // load kept on after the rollout finished

type Outcome = { ok: boolean; error?: string };

async function one(i: number): Promise<Outcome> {
  const c = client("acme", { timeout: 30_000 });
  try {
    if (i % 3 === 0) {
      const s = await c.chat.completions.create({ model: BASE, messages, max_tokens: 8, stream: true });
      for await (const _chunk of s);
    } else {
      await c.chat.completions.create({ model: BASE, messages, max_tokens: 8 });
    }
    return { ok: true };
  } catch (e) {
    const cause = (e as { cause?: { code?: string; cause?: { code?: string } } }).cause;
    const code = cause?.code ?? cause?.cause?.code ?? "";
    return {
      ok: false,
      error: e instanceof Error ? `${e.constructor.name}: ${e.message} ${code}`.trim() : String(e),
    };
  }
}

/** `helm upgrade` with a changed router pod annotation, waiting for the rollout; off the event loop. */
async function helmRoll(): Promise<void> {
  const bin = execFileSync("bash", ["scripts/cluster.sh", "bin-dir"]).toString().trim();
  await promisify(execFile)(
    `${bin}/helm`,
    [
      ..."upgrade loraplex charts/loraplex -n loraplex-system --reuse-values --wait --timeout 180s".split(
        " ",
      ),
      "--set-string",
      `router.podAnnotations.e2e-roll=${Date.now()}`,
    ],
    { env: { ...process.env, KUBECONFIG: env.kubeconfig } },
  );
}

const acmeLimits = (limits: Record<string, number>) =>
  kubectl("patch", "tenant", "acme", "--type", "merge", "-p", JSON.stringify({ spec: { limits } }));

beforeAll(() => acmeLimits({ requestsPerMinute: 100_000, tokensPerMinute: 10_000_000, maxConcurrent: 1000 }));
afterAll(() => acmeLimits({ requestsPerMinute: 1200, tokensPerMinute: 400_000, maxConcurrent: 64 }));

const routerPods = () =>
  kubectl("-n", SYSTEM_NS, "get", "pods", "-l", "app.kubernetes.io/name=loraplex-router", "-o", "name")
    .split("\n")
    .filter(Boolean);

const observedGeneration = () =>
  kubectl("-n", SYSTEM_NS, "get", "deploy/loraplex-router", "-o", "jsonpath={.status.observedGeneration}");

describe("router rolling upgrade under load", () => {
  it("helm upgrade rolls the router while 50 req/s are served, and none fails", async () => {
    const before = observedGeneration();
    const oldPods = routerPods();
    const requests: Promise<Outcome>[] = [];
    let i = 0;
    const started = Date.now();
    const timer = setInterval(() => {
      // Open loop: as many requests as the elapsed time calls for, whatever is still in flight.
      while (i < ((Date.now() - started) * RATE) / 1000) requests.push(one(i++));
    }, 20);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await helmRoll();
      kubectl("-n", SYSTEM_NS, "rollout", "status", "deploy/loraplex-router", "--timeout=120s");
      // The old Pods' shutdown (preStop, SIGTERM, drain) is the part under test: keep the load
      // on until they are gone.
      await until("the old router Pods gone", 120, () =>
        oldPods.every((p) => !routerPods().includes(p)) ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, AFTER_ROLL_MS));
    } finally {
      clearInterval(timer);
    }
    const outcomes = await Promise.all(requests);
    const after = observedGeneration();
    const failed = outcomes.filter((o) => !o.ok);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `router rolling upgrade under load: ${JSON.stringify({
        sent: outcomes.length,
        ok: outcomes.length - failed.length,
        failed: failed.length,
        seconds: Math.round(seconds),
        errors: Object.fromEntries(
          [...Map.groupBy(failed, (o) => o.error ?? "")].map(([k, v]) => [k, v.length]),
        ),
      })}`,
    );
    expect(Number(after)).toBeGreaterThan(Number(before)); // the Deployment did roll
    expect(failed).toEqual([]);
  }, 300_000);
});
