// The trainer reads a training pod's log through client-node and the API server. The test control
// plane has no kubelet, so no log text can exist here: this covers everything up to the kubelet —
// a pod that has no node yet is "no log yet" (an empty answer client-node cannot parse) and
// reports nothing, while any
// other failure (here: the pod does not exist) is reported once in the trainer's log. Reading
// real progress lines from a running pod is the e2e tests' part (they have a node).
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubeClient } from "../../kube/client.ts";
import { R } from "../../kube/types.ts";
import { createPodLogReader } from "../../trainer/pod-log.ts";
import { testKubeConfig } from "../support/kube.ts";
import { uniqueName } from "../support/unique.ts";

const kc = testKubeConfig();
const kube = createKubeClient(kc);
const namespace = uniqueName("podlog");
const lines: { msg: string; status: number; pod: string }[] = [];
const logger = pino(
  { level: "warn" },
  new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  }),
);

beforeAll(async () => {
  await kube.create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  await kube.create(R.pods, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "ft-pending", namespace },
    spec: { restartPolicy: "Never", containers: [{ name: "trainer", image: "lpx.test/loraplex:dev" }] },
  });
});
afterAll(async () => {
  await kube.delete(R.namespaces, namespace).catch(() => false);
});

describe("training pod logs through the API server", () => {
  it("a pod without a node has no log yet, and that is not reported", async () => {
    const read = createPodLogReader(kc, logger);
    expect(await read(namespace, "ft-pending")).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it("any other failure is reported once per pod, and never thrown", async () => {
    const read = createPodLogReader(kc, logger);
    expect(await read(namespace, "ft-gone")).toBeUndefined();
    expect(await read(namespace, "ft-gone")).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: "cannot read the training pod's log",
      status: 404,
      pod: "ft-gone",
    });
  });
});
