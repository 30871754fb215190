// The local stack behind `make demo` and `make dev`: local services, the sample tenants'
// adapters generated and uploaded to S3, engine simulators each with an adapter agent (two for
// the shared pool, one for globex's dedicated pool), the router in local mode over
// manifests/samples/ (or a copy with the caller's limit overrides), metering on (demo-metering.ts),
// and an API key per tenant. Every process it starts, it stops.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  DEFAULT_SHARED_POOL,
  DEFAULT_SYSTEM_NAMESPACE,
  formatPoolRef,
  poolRefFor,
} from "../core/cluster-layout.ts";
import { loadServiceConfig } from "../core/config.ts";
import { writeAdapter } from "../core/peft.ts";
import { createS3Client, parseS3Uri } from "../core/s3.ts";
import { sleep } from "../core/sleep.ts";
import type { Tenant } from "../core/tenant.ts";
import { loadTenantDir } from "../tenants/dir-source.ts";
import { freePort } from "../test/support/process.ts";
import { DEFAULT_TRAINER_PYTHON } from "../trainer/executor-local.ts";
import {
  type LimitOverrides,
  resetMeteringState,
  writeMeteringConfig,
  writeTenantsDir,
} from "./demo-metering.ts";

const ROOT = resolve(import.meta.dirname, "..");
export const SAMPLES = join(ROOT, "manifests/samples");
const STATE = join(ROOT, ".loraplex/demo");

export type Replica = { name: string; engineUrl: string; agentUrl: string };
export type Stack = {
  routerUrl: string;
  /** The tenant dashboard: open it and sign in with a tenant's key. */
  dashboardUrl: string;
  adminToken: string;
  tenants: Tenant[];
  keys: Record<string, string>;
  replicas: Replica[];
  /** Router log lines (JSON) read so far. */
  routerLog(): string;
  stop(): Promise<void>;
};

type Proc = { name: string; child: ChildProcess; exited: Promise<void>; output(): string };

export async function startStack(opts: {
  routerPort?: number;
  schema: string;
  /** Demo-only changes to the sample tenants' spend caps; manifests/samples/ is never edited. */
  limits?: LimitOverrides;
  /** Start with nothing spent or recorded: drop the schema and Redis keys of an earlier run. */
  fresh?: boolean;
  /**
   * Also run `loraplex trainer --executor local` on the same tenants and schema, so fine-tunes
   * submitted to the router train here when .tools/trainer-venv exists and otherwise fail with
   * the message that says how to enable it.
   */
  trainer?: boolean;
  say(msg: string): void;
}): Promise<Stack> {
  const { say } = opts;
  const procs: Proc[] = [];
  const stopAll = async () => {
    for (const p of procs.reverse()) await stopProc(p);
  };
  try {
    const servicesWereUp = !execFileSync("bash", ["scripts/services.sh", "status"], { cwd: ROOT })
      .toString()
      .includes("down");
    say("starting local services (PostgreSQL, Redis, S3)");
    execFileSync("bash", ["scripts/services.sh", "up"], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
    });
    await mkdir(STATE, { recursive: true });
    if (opts.fresh) await resetMeteringState(opts.schema);

    // Without overrides the router watches manifests/samples/ itself, so edits there reload live.
    const overrides = opts.limits ?? {};
    const tenantsDir = Object.keys(overrides).length ? join(STATE, "tenants") : SAMPLES;
    if (tenantsDir !== SAMPLES) await writeTenantsDir(SAMPLES, tenantsDir, overrides);
    const { tenants, problems } = await loadTenantDir(tenantsDir);
    if (problems.length) throw new Error(`invalid sample tenants: ${JSON.stringify(problems)}`);
    const baseModel = tenants[0]!.spec.models[0]!;
    say(`generating and uploading ${tenants.flatMap((t) => t.spec.adapters).length} sample adapters to S3`);
    await uploadAdapters(tenants);

    const shared = ["shared-1", "shared-2"];
    const dedicated = tenants.filter((t) => t.spec.tier === "dedicated").map((t) => `${t.metadata.name}-1`);
    say(`starting ${shared.length + dedicated.length} engine simulators, each with an adapter agent`);
    const replicas = await Promise.all(
      [...shared, ...dedicated].map((name) => startReplica(name, baseModel, procs)),
    );
    const flag = (rs: Replica[]) => rs.map((r) => `${r.engineUrl}|${r.agentUrl}`).join(",");
    const engines = [
      `${formatPoolRef({ namespace: DEFAULT_SYSTEM_NAMESPACE, name: DEFAULT_SHARED_POOL })}=${flag(replicas.filter((r) => shared.includes(r.name)))}`,
      ...tenants
        .filter((t) => t.spec.tier === "dedicated")
        .map(
          (t) =>
            `${poolRefFor(t, DEFAULT_SYSTEM_NAMESPACE)}=${flag(replicas.filter((r) => r.name.startsWith(`${t.metadata.name}-`)))}`,
        ),
    ].join(";");

    const adminToken = `lpxadm_${randomBytes(24).toString("base64url")}`;
    const port = opts.routerPort ?? (await freePort());
    const routerUrl = `http://127.0.0.1:${port}`;
    const meteringConfig = await writeMeteringConfig(STATE, tenants);
    say(
      `starting the router on ${routerUrl} (local mode, tenants from ${relative(ROOT, tenantsDir)}/, metering on: ` +
        `${relative(ROOT, meteringConfig)})`,
    );
    const router = launch(
      "router",
      [
        "router",
        "--port",
        String(port),
        "--metrics-port",
        "0",
        "--tenants-dir",
        tenantsDir,
        "--engines",
        engines,
      ],
      {
        LORAPLEX_METERING_CONFIG: meteringConfig,
        LORAPLEX_DEV_SECRETS: "1",
        LORAPLEX_ADMIN_TOKEN: adminToken,
        DATABASE_SCHEMA: opts.schema,
        LOG_LEVEL: "info",
      },
    );
    procs.push(router);
    // Every pool (shared and each dedicated one) has a healthy replica before the walk-through.
    await waitUp(router, `${routerUrl}/readyz?pools=all`);
    if (opts.trainer) {
      const trainerPort = await freePort();
      const venv = relative(ROOT, DEFAULT_TRAINER_PYTHON);
      say(
        existsSync(DEFAULT_TRAINER_PYTHON)
          ? `starting the trainer (local executor, training with ${venv})`
          : `starting the trainer (local executor; no Python environment at ${venv}, so fine-tunes fail ` +
              "until `make trainer-selftest` installs it)",
      );
      const trainer = launch(
        "trainer",
        [
          ...["trainer", "--executor", "local", "--tenants-dir", tenantsDir, "--db-schema", opts.schema],
          ...["--bull-prefix", `bull-${opts.schema}`, "--port", String(trainerPort), "--capacity", "1"],
          ...["--health-host", "127.0.0.1"],
        ],
        { LORAPLEX_METERING_CONFIG: meteringConfig, LOG_LEVEL: "info" },
      );
      procs.push(trainer);
      await waitUp(trainer, `http://127.0.0.1:${trainerPort}/readyz`);
    }

    const keys: Record<string, string> = {};
    for (const t of tenants) {
      const r = await fetch(`${routerUrl}/admin/v1/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ tenant: t.metadata.name, name: "demo" }),
      });
      if (r.status !== 201) throw new Error(`creating a key for ${t.metadata.name}: ${await r.text()}`);
      keys[t.metadata.name] = ((await r.json()) as { key: string }).key;
    }
    return {
      routerUrl,
      dashboardUrl: `${routerUrl}/dashboard`,
      adminToken,
      tenants,
      keys,
      replicas,
      routerLog: router.output,
      async stop() {
        await stopAll();
        if (!servicesWereUp)
          execFileSync("bash", ["scripts/services.sh", "down"], { cwd: ROOT, stdio: "ignore" });
      },
    };
  } catch (err) {
    for (const p of procs) {
      const tail = p.output().split("\n").slice(-15).join("\n");
      if (tail.trim()) console.error(`--- last output of ${p.name} ---\n${tail}`);
    }
    await stopAll();
    throw err;
  }
}

export async function uploadAdapters(tenants: Tenant[]): Promise<void> {
  const cfg = loadServiceConfig();
  const s3 = createS3Client(cfg);
  const dir = await mkdtemp(join(STATE, "adapters-"));
  try {
    for (const t of tenants) {
      for (const a of t.spec.adapters) {
        const target = parseS3Uri(a.source);
        if (!target) throw new Error(`adapter source ${a.source} is not an s3:// URI`);
        const local = join(dir, t.metadata.name, a.name, String(a.version));
        await writeAdapter(local, {
          baseModel: a.baseModel,
          seed: `${t.metadata.name}/${a.name}/${a.version}`,
        });
        const prefix = target.key.endsWith("/") ? target.key : `${target.key}/`;
        for (const file of await readdir(local)) {
          await s3.send(
            new PutObjectCommand({
              Bucket: target.bucket,
              Key: `${prefix}${file}`,
              Body: await readFile(join(local, file)),
            }),
          );
        }
      }
    }
  } finally {
    s3.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

async function startReplica(name: string, model: string, procs: Proc[]): Promise<Replica> {
  const [enginePort, agentPort] = [await freePort(), await freePort()];
  const engineUrl = `http://127.0.0.1:${enginePort}`;
  const agentUrl = `http://127.0.0.1:${agentPort}`;
  const engine = launch(`${name}-engine`, [
    "engine-sim",
    "--port",
    String(enginePort),
    "--model",
    model,
    "--max-loras",
    "4",
  ]);
  procs.push(engine);
  await waitUp(engine, `${engineUrl}/health`);
  const cacheDir = await mkdtemp(join(STATE, `${name}-cache-`));
  const agent = launch(`${name}-agent`, [
    ...["agent", "--port", String(agentPort), "--engine-url", engineUrl],
    ...["--cache-dir", cacheDir, "--base-model", model],
  ]);
  const exited = agent.exited.then(() => rm(cacheDir, { recursive: true, force: true }));
  procs.push({ ...agent, exited });
  await waitUp(agent, `${agentUrl}/health`);
  return { name, engineUrl, agentUrl };
}

/** Spawns `loraplex <args>`, keeping its output in memory and in .loraplex/demo/<name>.log. */
function launch(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [join(ROOT, "bin/loraplex.js"), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const file = createWriteStream(join(STATE, `${name}.log`));
  let out = "";
  const keep = (b: Buffer) => {
    file.write(b);
    out += b.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<void>((r) => child.once("exit", () => file.end(() => r())));
  return { name, child, exited, output: () => out };
}

async function waitUp(p: Proc, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited with code ${p.child.exitCode}`);
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    await sleep(100);
  }
  throw new Error(`${p.name} was not ready at ${url} within ${timeoutMs / 1000} s`);
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill("SIGTERM");
    const t = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
    await p.exited;
    clearTimeout(t);
  }
  await p.exited;
}
