// `loraplex adapters generate`: writes a valid PEFT LoRA adapter (adapter_config.json +
// adapter_model.safetensors with lora_A/lora_B tensors) for a base model, to a folder and/or
// straight to a tenant's S3 prefix. For demos, tests and benchmarks: the weights are
// deterministic noise from the seed, not a trained adapter.
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { parseByteSize } from "../core/byte-size.ts";
import { loadServiceConfig } from "../core/config.ts";
import { intFlag, isUsageError, UsageError } from "../core/flags.ts";
import { CONFIG_FILE, generateAdapter, WEIGHTS_FILE, writeAdapter } from "../core/peft.ts";
import { createS3Client, parseS3Uri } from "../core/s3.ts";

const USAGE = `usage: loraplex adapters generate --base-model MODEL [options] (--out DIR | --upload S3_URI)

Writes a valid PEFT LoRA adapter with deterministic weights (not a trained one).

  --base-model NAME       base_model_name_or_path; must equal the engine's served model
  --rank N                LoRA rank r (default 8)
  --size SIZE             approximate weights size, e.g. 64KiB, 16MiB (default 64KiB)
  --hidden N              hidden size of the target modules (default 256)
  --target-modules LIST   comma-separated (default q_proj,v_proj)
  --seed TEXT             different seeds give different weights (default "loraplex")
  --out DIR               write the two files into DIR
  --upload S3_URI         upload them under this prefix, e.g.
                          s3://loraplex/tenants/<tenant>/adapters/<name>/<version>/

Prints one JSON line: {"sha256" (of adapter_model.safetensors), "bytes", "out", "uri"}.`;

async function generate(argv: string[]): Promise<number> {
  const { values } = parse(argv);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const baseModel = values["base-model"];
  if (!baseModel) throw new UsageError("--base-model is required");
  if (!values.out && !values.upload) throw new UsageError("give --out DIR, --upload S3_URI, or both");
  const target = values.upload ? parseS3Uri(values.upload) : undefined;
  if (values.upload && !target)
    throw new UsageError(`--upload '${values.upload}' is not an s3://bucket/prefix/ URI`);
  let opts: Parameters<typeof generateAdapter>[0];
  try {
    opts = {
      baseModel,
      rank: intFlag("--rank", values.rank, { min: 1 }),
      hidden: intFlag("--hidden", values.hidden, { min: 1 }),
      sizeBytes: parseByteSize(values.size),
      targetModules: values["target-modules"]
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      seed: values.seed,
    };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const summary: Record<string, unknown> = {};
  if (values.out) {
    Object.assign(summary, await writeAdapter(values.out, opts), { out: values.out });
  }
  if (target) {
    const { config, weights } = generateAdapter(opts);
    const prefix = target.key === "" || target.key.endsWith("/") ? target.key : `${target.key}/`;
    const env = loadServiceConfig();
    const s3 = createS3Client(env);
    try {
      for (const [file, body] of [
        [CONFIG_FILE, `${JSON.stringify(config, null, 2)}\n`],
        [WEIGHTS_FILE, weights],
      ] as const) {
        await s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: prefix + file, Body: body }));
      }
    } finally {
      s3.destroy();
    }
    Object.assign(summary, {
      sha256: createHash("sha256").update(weights).digest("hex"),
      bytes: weights.length,
      uri: `s3://${target.bucket}/${prefix}`,
    });
  }
  console.log(JSON.stringify(summary));
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      "base-model": { type: "string" },
      rank: { type: "string", default: "8" },
      size: { type: "string", default: "64KiB" },
      hidden: { type: "string", default: "256" },
      "target-modules": { type: "string", default: "q_proj,v_proj" },
      seed: { type: "string", default: "loraplex" },
      out: { type: "string" },
      upload: { type: "string" },
    },
  });
}

async function runAdapters(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "generate") {
    console.error(
      sub && sub !== "--help" && sub !== "-h" ? `loraplex adapters: unknown subcommand '${sub}'\n` : "",
    );
    console.error(USAGE);
    return sub === "--help" || sub === "-h" ? 0 : 2;
  }
  try {
    return await generate(rest);
  } catch (err) {
    if (isUsageError(err)) {
      console.error(`loraplex adapters generate: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`loraplex adapters generate: ${(err as Error).message}`);
    return 1;
  }
}

export const adaptersCommand = {
  summary: "adapter tools: `adapters generate` writes a valid PEFT LoRA adapter (file or S3)",
  run: runAdapters,
};
