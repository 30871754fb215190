// Loraplex as the Helm chart installs it on a real node (scripts/e2e.sh): the official openai
// client calls the router through its NodePort on 127.0.0.1; the router finds the engine Pods
// (engine simulator + adapter agent) through their Services; the agents pull the tenants'
// adapters from S3 inside the Pods. acme is on the shared pool, globex on its dedicated pool.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { ADAPTER, BASE, client, kubectl, messages } from "./cluster.ts";

async function complete(tenant: string, model: string): Promise<string> {
  const r = await client(tenant).chat.completions.create({ model, messages, max_tokens: 16 });
  expect(r.model).toBe(model);
  expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  return r.choices[0]?.message.content ?? "";
}

async function stream(tenant: string, model: string): Promise<string> {
  const s = await client(tenant).chat.completions.create({
    model,
    messages,
    max_tokens: 16,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = 0;
  for await (const chunk of s) {
    expect(chunk.model).toBe(model);
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage.completion_tokens;
  }
  expect(usage).toBeGreaterThan(0);
  return text;
}

describe.each([
  ["acme", "shared"],
  ["globex", "dedicated"],
])("%s (%s tier) through the router's NodePort", (tenant) => {
  it("answers on the base model, whole and streamed", async () => {
    expect(await complete(tenant, BASE)).not.toBe("");
    expect(await stream(tenant, BASE)).not.toBe("");
  });

  it("answers on its adapter, pulled from S3 by the agent in the engine Pod", async () => {
    expect(await complete(tenant, ADAPTER)).not.toBe("");
    expect(await stream(tenant, ADAPTER)).not.toBe("");
  });
});

describe("tenant isolation on the cluster", () => {
  it("acme cannot see or call globex's adapter version", async () => {
    const acme = client("acme");
    const ids = (await acme.models.list()).data.map((m) => m.id);
    expect(ids).toContain(BASE);
    expect(ids).not.toContain(`${ADAPTER}@3`);
    const err = await acme.chat.completions
      .create({ model: `${ADAPTER}@3`, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("the engine Pods run the simulator, named as such by kubectl", () => {
    const pools = kubectl(
      "get",
      "modelpools",
      "-A",
      "--no-headers",
      "-o",
      "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,ENGINE:.status.engine",
    );
    expect(pools).toMatch(/loraplex-system\s+shared\s+simulator/);
    expect(pools).toMatch(/tenant-globex\s+engine\s+simulator/);
    type Pods = { items: { metadata: { deletionTimestamp?: string }; status: { phase: string } }[] };
    const pods = JSON.parse(
      kubectl("get", "pods", "-A", "-l", "app.kubernetes.io/name=loraplex-engine", "-o", "json"),
    ) as Pods;
    // Pods a rollout is replacing are on their way out, and Pods of an earlier run that ended
    // (Failed) belong to no rollout; the pools' current ones all run.
    const phases = pods.items
      .filter((p) => !p.metadata.deletionTimestamp && p.status.phase !== "Failed")
      .map((p) => p.status.phase);
    expect(phases).toEqual(["Running", "Running", "Running"]);
  });
});

describe("NetworkPolicies enforced on the node (kube-router)", () => {
  // From inside a Pod: the answer, or the error code, of one HTTP request with a 3 s deadline.
  const probe = (deploy: string, url: string) =>
    kubectl(
      ..."-n loraplex-system exec".split(" "),
      `deploy/${deploy}`,
      "--",
      "node",
      "-e",
      `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) })` +
        `.then((r) => console.log("status " + r.status), (e) => console.log("blocked " + (e.cause?.code ?? e.name)))`,
    ).trim();

  it("globex's engines accept the router and drop every other Pod", () => {
    const ips = kubectl(
      ..."-n tenant-globex get pods -l app.kubernetes.io/name=loraplex-engine".split(" "),
      "-o",
      "jsonpath={.items[*].status.podIP}",
    );
    const url = `http://${ips.split(" ")[0]}:8000/health`;
    expect(probe("loraplex-router", url)).toBe("status 200");
    expect(probe("loraplex-controller", url)).toMatch(/^blocked /);
  });
});
