// Starts the Kubernetes test control plane (test/cluster, built and cached by scripts/cluster.sh)
// as a child process for one test run. It uses its own ports (57443/57379/57380 by default),
// so a developer's `make cluster-up` cluster (56443/52379/52380) can keep running alongside.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
const KEPT_LINES = 40;

export interface TestCluster {
  kubeconfigPath: string;
  kubectl: string;
  helm: string;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  /** Fresh directory for etcd data, certificates and the kubeconfig; removed by stop(). */
  dataDir: string;
  port?: number;
  etcdPort?: number;
  /** etcd peer port; defaults to etcdPort + 1. */
  etcdPeerPort?: number;
  /** Also write the control plane's log here (it is otherwise kept only in memory, last lines). */
  logFile?: string;
}

export async function startTestCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const binDir = await cachedBinDir();
  const port = opts.port ?? 57443;
  const etcdPort = opts.etcdPort ?? 57379;
  const etcdPeerPort = opts.etcdPeerPort ?? etcdPort + 1;
  const kubeconfigPath = join(opts.dataDir, "kubeconfig");

  const child = spawn(
    join(binDir, "loraplex-cluster"),
    [
      `--data-dir=${opts.dataDir}`,
      `--kubeconfig=${kubeconfigPath}`,
      `--port=${port}`,
      `--etcd-port=${etcdPort}`,
      `--etcd-peer-port=${etcdPeerPort}`,
      // stdin is a pipe from this process: if the test runner dies without calling stop(),
      // the pipe closes and the control plane exits instead of lingering.
      "--exit-on-stdin-eof",
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const log: WriteStream | undefined = opts.logFile ? createWriteStream(opts.logFile) : undefined;
  const lastLines: string[] = [];
  let onReady: (() => void) | undefined;

  // Both streams are drained for the whole run: a full pipe would block the control plane.
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      log?.write(`${line}\n`);
      lastLines.push(line);
      if (lastLines.length > KEPT_LINES) lastLines.shift();
      if (stream === child.stdout && line.startsWith("READY ")) onReady?.();
    });
  }

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await terminate(child, exited);
      log?.end();
      await rm(opts.dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) =>
        reject(new Error(`test control plane ${why}; last output:\n${lastLines.join("\n")}`));
      const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS / 1000}s`), READY_TIMEOUT_MS);
      onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once("error", (err) => {
        clearTimeout(timer);
        fail(`could not be started (${err.message})`);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        fail(`exited before READY (${signal ?? `exit code ${code}`})`);
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { kubeconfigPath, kubectl: join(binDir, "kubectl"), helm: join(binDir, "helm"), stop };
}

/** Runs `scripts/cluster.sh bin-dir`: builds the binaries on the first run, then answers from the cache. */
function cachedBinDir(): Promise<string> {
  return new Promise((resolve, reject) => {
    // stderr is inherited so a cold build's progress messages reach the terminal.
    const child = spawn("bash", [join(repoRoot, "scripts", "cluster.sh"), "bin-dir"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => {
      const dir = out.trim().split("\n").pop() ?? "";
      if (code === 0 && dir !== "") resolve(dir);
      else reject(new Error(`scripts/cluster.sh bin-dir failed (exit code ${code})`));
    });
  });
}

/** SIGTERM, then SIGKILL if the process is still there after STOP_GRACE_MS. */
async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
  });
  const killed = await Promise.race([exited.then(() => false), gaveUp]);
  clearTimeout(timer);
  if (killed) {
    child.kill("SIGKILL");
    await exited;
  }
}
