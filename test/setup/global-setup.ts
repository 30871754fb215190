import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "../support/process.ts";
import { startTestCluster } from "./cluster.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfigPath: string;
    kubectl: string;
    helm: string;
  }
}

let stopCluster: (() => Promise<void>) | undefined;

export async function setup(project: TestProject): Promise<void> {
  // Idempotent: starts Postgres, Redis and the S3 server only if they are not already up.
  execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
  // Free ports, so two test runs on one machine (two checkouts, a benchmark) never collide.
  const cluster = await startTestCluster({
    dataDir: mkdtempSync(join(tmpdir(), "loraplex-cluster-")),
    port: await freePort(),
    etcdPort: await freePort(),
    etcdPeerPort: await freePort(),
  });
  stopCluster = cluster.stop;
  project.provide("kubeconfigPath", cluster.kubeconfigPath);
  project.provide("kubectl", cluster.kubectl);
  project.provide("helm", cluster.helm);
}

export async function teardown(): Promise<void> {
  await stopCluster?.();
}
