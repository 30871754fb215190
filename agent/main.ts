// `loraplex agent`: wires the adapter agent together and runs it until SIGTERM/SIGINT.
import { relative, resolve } from "node:path";
import { loadServiceConfig, type ServiceConfig } from "../core/config.ts";
import { createLogger } from "../core/log.ts";
import { createS3Client } from "../core/s3.ts";
import { createAdapterManager } from "./adapter-manager.ts";
import { DiskCache } from "./disk-cache.ts";
import { createDownloader } from "./downloader.ts";
import { createEngineClient } from "./engine-client.ts";
import { KeyedLock } from "./keyed-lock.ts";
import { createAgentMetrics } from "./metrics.ts";
import { AGENT_USAGE, type AgentOptions, parseAgentOptions } from "./options.ts";
import { createReconciler } from "./reconcile.ts";
import { createAgentServer } from "./server.ts";

/** Starts every part of the agent and returns how to stop it. */
export async function startAgent(o: AgentOptions, env: ServiceConfig): Promise<{ stop(): Promise<void> }> {
  const logger = createLogger("agent", env.LOG_LEVEL);
  const cache = new DiskCache(o.cacheDir, o.cacheMaxBytes);
  await cache.open();
  const engine = createEngineClient(o.engineUrl, { timeoutMs: o.engineTimeoutMs });
  const metrics = createAgentMetrics(() => ({
    bytes: cache.usedBytes,
    maxBytes: cache.maxBytes,
    adapters: cache.list().length,
  }));
  const s3 = createS3Client(env);
  const state = { cache, lock: new KeyedLock(), engine, metrics, logger };
  const downloader = createDownloader({ s3, bucket: o.bucket, timeoutMs: o.s3TimeoutMs });
  const manager = createAdapterManager(state, downloader, {
    bucket: o.bucket,
    maxLoraRank: o.maxLoraRank,
    baseModel: o.baseModel,
    enginePath: (dir) => resolve(o.engineCacheDir, relative(o.cacheDir, dir)),
  });
  const reconciler = createReconciler(state, manager.reloadFromDisk, { intervalMs: o.reconcileIntervalMs });
  const server = createAgentServer({ manager, reconciler, cache, engine, metrics, logger });

  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(o.port, o.host, () => ok());
  });
  // Adapters already on disk and registered in the engine (an agent-only restart) are adopted.
  await reconciler.reconcile().catch(() => {});
  reconciler.start();
  logger.info(
    {
      port: o.port,
      engine: o.engineUrl,
      cacheDir: o.cacheDir,
      cacheMaxBytes: o.cacheMaxBytes,
      adapters: cache.list().length,
    },
    "adapter agent listening",
  );

  return {
    async stop() {
      reconciler.stop();
      server.closeIdleConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await engine.close();
      s3.destroy();
    },
  };
}

async function runAgent(argv: string[]): Promise<number> {
  let opts: ReturnType<typeof parseAgentOptions>;
  let env: ServiceConfig;
  try {
    env = loadServiceConfig();
    opts = parseAgentOptions(argv, env.S3_BUCKET);
  } catch (err) {
    console.error(`loraplex agent: ${(err as Error).message}\n\n${AGENT_USAGE}`);
    return 2;
  }
  if (opts === "help") {
    console.log(AGENT_USAGE);
    return 0;
  }
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(opts, env);
  } catch (err) {
    console.error(`loraplex agent: cannot start: ${(err as Error).message}`);
    return 1;
  }
  await new Promise<void>((done) => {
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
  });
  await agent.stop();
  return 0;
}

export const agentCommand = {
  summary: "adapter agent sidecar: S3 → verified disk cache → the engine's runtime LoRA API",
  run: runAgent,
};
