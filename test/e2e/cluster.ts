// What the end-to-end tests share: the installation scripts/e2e.sh describes in
// .loraplex/e2e.json, kubectl against the test cluster, the official openai client through the
// router's NodePort, and probes run from inside Pods.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import OpenAI from "openai";

type E2e = { routerUrl: string; adminToken: string; keys: Record<string, string>; kubeconfig: string };
export const env = JSON.parse(readFileSync(".loraplex/e2e.json", "utf8")) as E2e;
export const SYSTEM_NS = "loraplex-system";
export const BASE = "llama-3.1-8b-instruct";
export const ADAPTER = "support-bot";
export const messages = [
  { role: "user" as const, content: "My order #1234 has not arrived. What can I do?" },
];

export function client(tenant: string, options: { maxRetries?: number; timeout?: number } = {}): OpenAI {
  const apiKey = env.keys[tenant];
  if (!apiKey) throw new Error(`no key for ${tenant} in .loraplex/e2e.json`);
  return new OpenAI({ apiKey, baseURL: `${env.routerUrl}/v1`, maxRetries: 0, timeout: 30_000, ...options });
}

const bin = execFileSync("bash", ["scripts/cluster.sh", "bin-dir"]).toString().trim();

/** kubectl's stdout (input, when given, on its stdin); throws with its stderr when it exits non-zero. */
export function kubectl(...args: string[]): string {
  return run(args);
}

function run(args: string[], input?: string): string {
  return execFileSync(`${bin}/kubectl`, ["--kubeconfig", env.kubeconfig, ...args], {
    input,
    stdio: ["pipe", "pipe", "pipe"],
  }).toString();
}

/** kubectl's exit status and combined output, for commands expected to fail. */
export function kubectlResult(args: string[], input?: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: run(args, input) };
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, out: `${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? ""}` };
  }
}

export function kubectlApply(manifest: unknown): void {
  run(["apply", "-f", "-"], JSON.stringify(manifest));
}

type PodList = {
  items: {
    metadata: {
      name: string;
      namespace: string;
      deletionTimestamp?: string;
      labels?: Record<string, string>;
    };
    status: { podIP?: string; phase: string; conditions?: { type: string; status: string }[] };
  }[];
};

/** The Ready, not terminating Pods matching a label selector in a namespace. */
export function readyPods(ns: string, selector: string): PodList["items"] {
  const pods = JSON.parse(kubectl("-n", ns, "get", "pods", "-l", selector, "-o", "json")) as PodList;
  return pods.items.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
}

export const ENGINE_SELECTOR = "app.kubernetes.io/name=loraplex-engine";

/** The Loraplex image the chart runs (built by scripts/images.sh, never pulled). */
export function loraplexImage(): string {
  return kubectl(
    "-n",
    SYSTEM_NS,
    "get",
    "deploy/loraplex-router",
    "-o",
    "jsonpath={.spec.template.spec.containers[0].image}",
  );
}

/**
 * One TCP connection attempt from inside a Pod (its first container runs the Loraplex image,
 * so node is there): "connected", or why it failed ("timeout" when a policy drops the SYN).
 */
export function tcpProbe(ns: string, pod: string, host: string, port: number, container?: string): string {
  const script =
    `const s = require("net").connect(${port}, ${JSON.stringify(host)});` +
    `s.setTimeout(2000, () => { console.log("timeout"); process.exit(0); });` +
    `s.on("connect", () => { console.log("connected"); process.exit(0); });` +
    `s.on("error", (e) => { console.log(e.code ?? "error"); process.exit(0); });`;
  const c = container ? ["-c", container] : [];
  return kubectl("-n", ns, "exec", pod, ...c, "--", "node", "-e", script).trim();
}

/** Polls until check returns a value other than undefined; throws with the last state after the deadline. */
export async function until<T>(
  what: string,
  seconds: number,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${seconds}s${last ? ` (last error: ${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export type AgentAdapter = { tenant: string; adapter: string; version: number; loaded: boolean };

/** The adapters an engine Pod's agent holds (its GET /adapters, asked from inside the Pod). */
export function agentAdapters(ns: string, pod: string): AgentAdapter[] {
  const script =
    `fetch("http://127.0.0.1:8001/adapters", { signal: AbortSignal.timeout(5000) })` +
    `.then((r) => r.text()).then((t) => console.log(t), (e) => { console.error(String(e)); process.exit(1); });`;
  const out = kubectl("-n", ns, "exec", pod, "-c", "agent", "--", "node", "-e", script);
  return (JSON.parse(out) as { adapters: AgentAdapter[] }).adapters;
}
