// A fine-tune as a real Job Pod on the node: the chart's trainer (with `trainer.simulator`, so
// the Job runs `loraplex train-sim`, the training SIMULATOR, from the Loraplex image) creates the
// Job in the training namespace for shared-tier acme and in globex's own namespace for dedicated
// globex. The Pod reads the training file from S3 with its tenant's credentials Secret, prints its
// LORAPLEX_PROGRESS lines and writes the adapter; the trainer reads those lines from the Pod's log
// through the API server (pods/log), records them as the job's events and checkpoints, registers
// the adapter, and the router then serves the fine-tuned model to its tenant and no other.
import OpenAI from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { parseProgressLine } from "../../trainer/progress.ts";
import { startFineTune } from "../support/openai-calls.ts";
import { BASE, client, kubectl, kubectlResult, messages, until } from "./cluster.ts";

const created: { ns: string; job: string }[] = [];

afterAll(() => {
  // The Jobs' Pods are kept for a day for inspection (ttlSecondsAfterFinished); a test run keeps none.
  for (const { ns, job } of created) kubectlResult(["-n", ns, "delete", "job", job, "--wait=false"]);
});

const example = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "user", content: `Where is order #${1000 + i}?` },
      { role: "assistant", content: `Order #${1000 + i} ships tomorrow.` },
    ],
  });

type Pod = { spec: { nodeName?: string }; status: { phase: string } };

/** The steps of the LORAPLEX_PROGRESS lines in a log, in order. */
function progressSteps(log: string): number[] {
  return log.split("\n").flatMap((line) => {
    const p = parseProgressLine(line);
    return p?.kind === "progress" ? [p.progress.step] : [];
  });
}

describe.each([
  ["acme", "loraplex-training", "globex"],
  ["globex", "tenant-globex", "acme"],
])("a fine-tune of %s runs as a Job Pod in %s", (tenant, ns, other) => {
  it("trains, reports progress read from the Pod's log, and its model is served to its tenant only", async () => {
    const c = client(tenant, { timeout: 60_000 });
    const job = await startFineTune(c, BASE, [1, 2, 3, 4, 5, 6].map(example), "e2e");
    const jobName = `ft-${job.id.replace(/^ftjob-/, "")}`;
    created.push({ ns, job: jobName });

    const done = await until("the fine-tune to end", 180, async () => {
      const j = await c.fineTuning.jobs.retrieve(job.id);
      return ["succeeded", "failed", "cancelled"].includes(j.status) ? j : undefined;
    });
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");

    // It ran as a Pod on the node, in the namespace of the tenant's tier.
    const pods = (
      JSON.parse(kubectl("-n", ns, "get", "pods", "-l", `job-name=${jobName}`, "-o", "json")) as {
        items: Pod[];
      }
    ).items;
    expect(pods).toHaveLength(1);
    expect(pods[0]!.status.phase).toBe("Succeeded");
    expect(pods[0]!.spec.nodeName).toBe("loraplex-node");

    // 6 examples in batches of 2 → 3 steps per epoch, 2 epochs: the Pod's log holds each step once,
    // and the job's metrics events are exactly those steps (what the trainer read from that log).
    const log = kubectl("-n", ns, "logs", `job/${jobName}`);
    expect(progressSteps(log)).toEqual([1, 2, 3, 4, 5, 6]);
    const events = await c.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    const metrics = events.data
      .filter((e) => e.type === "metrics")
      .map((e) => e.data as { step: number; train_loss: number })
      .sort((a, b) => a.step - b.step);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of metrics) expect(m.train_loss).toBeGreaterThan(0);

    // The adapter the Pod wrote is served through the router, loaded by the engine Pod's agent.
    const model = done.fine_tuned_model!;
    // The router re-reads registered fine-tunes on an interval.
    await until("the fine-tuned model listed", 30, async () =>
      (await c.models.list()).data.some((m) => m.id === model) ? true : undefined,
    );
    const r = await c.chat.completions.create({ model, messages, max_tokens: 8 });
    expect(r.model).toBe(model);
    expect(r.choices[0]?.message.content).toBeTruthy();

    // Another tenant finds neither the job nor the model: the same 404 as for ids that never existed.
    const stranger = client(other);
    const seeJob = await stranger.fineTuning.jobs.retrieve(job.id).catch((e: unknown) => e);
    expect(seeJob).toBeInstanceOf(OpenAI.NotFoundError);
    const useModel = await stranger.chat.completions
      .create({ model, messages, max_tokens: 8 })
      .catch((e: unknown) => e);
    expect(useModel).toBeInstanceOf(OpenAI.NotFoundError);
  }, 240_000);
});
