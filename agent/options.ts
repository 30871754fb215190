// `loraplex agent` flags. S3 connection settings come from the environment (core/config.ts).
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseByteSize } from "../core/byte-size.ts";
import { intFlag } from "../core/flags.ts";

export type AgentOptions = {
  host: string;
  port: number;
  engineUrl: string;
  cacheDir: string;
  engineCacheDir: string;
  cacheMaxBytes: number;
  bucket: string;
  baseModel?: string;
  maxLoraRank: number;
  reconcileIntervalMs: number;
  engineTimeoutMs: number;
  s3TimeoutMs: number;
};

export const AGENT_USAGE = `usage: loraplex agent [options]

The adapter agent: runs beside the engine in each engine pod, downloads tenants' LoRA adapters
from S3 into a verified local disk cache and registers them with the engine's runtime LoRA API.

  --host ADDR                  listen address (default 127.0.0.1)
  --port N                     listen port (default 8001)
  --engine-url URL             the engine's OpenAI-compatible server (default http://127.0.0.1:8000)
  --cache-dir DIR              local adapter cache (default <tmp>/loraplex-adapters)
  --engine-cache-dir DIR       the same folder as the engine container mounts it (default: --cache-dir)
  --cache-max-bytes SIZE       disk budget, e.g. 10GiB, 500MB (default 10GiB)
  --bucket NAME                the only bucket adapters may come from (default $S3_BUCKET)
  --base-model NAME            the engine's served model (default: asked from the engine)
  --max-lora-rank N            largest LoRA rank accepted, as the engine's flag (default 64)
  --reconcile-interval-ms N    how often to compare with the engine's adapters (default 5000)
  --engine-timeout-ms N        per engine call (default 60000)
  --s3-timeout-ms N            per adapter download (default 600000)

Environment: S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY,
S3_FORCE_PATH_STYLE, LOG_LEVEL.`;

export function parseAgentOptions(argv: string[], defaultBucket: string): AgentOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8001" },
      "engine-url": { type: "string", default: "http://127.0.0.1:8000" },
      "cache-dir": { type: "string", default: join(tmpdir(), "loraplex-adapters") },
      "engine-cache-dir": { type: "string" },
      "cache-max-bytes": { type: "string", default: "10GiB" },
      bucket: { type: "string", default: defaultBucket },
      "base-model": { type: "string" },
      "max-lora-rank": { type: "string", default: "64" },
      "reconcile-interval-ms": { type: "string", default: "5000" },
      "engine-timeout-ms": { type: "string", default: "60000" },
      "s3-timeout-ms": { type: "string", default: "600000" },
    },
  });
  if (values.help) return "help";
  let engineUrl: URL;
  try {
    engineUrl = new URL(values["engine-url"]);
  } catch {
    throw new Error(`--engine-url '${values["engine-url"]}' is not a URL`);
  }
  const cacheDir = resolve(values["cache-dir"]);
  return {
    host: values.host,
    port: intFlag("--port", values.port, { min: 1, max: 65535 }),
    engineUrl: engineUrl.origin,
    cacheDir,
    engineCacheDir: values["engine-cache-dir"] ? resolve(values["engine-cache-dir"]) : cacheDir,
    cacheMaxBytes: parseByteSize(values["cache-max-bytes"]),
    bucket: values.bucket,
    baseModel: values["base-model"],
    maxLoraRank: intFlag("--max-lora-rank", values["max-lora-rank"], { min: 1 }),
    reconcileIntervalMs: intFlag("--reconcile-interval-ms", values["reconcile-interval-ms"], { min: 1 }),
    engineTimeoutMs: intFlag("--engine-timeout-ms", values["engine-timeout-ms"], { min: 1 }),
    s3TimeoutMs: intFlag("--s3-timeout-ms", values["s3-timeout-ms"], { min: 1 }),
  };
}
