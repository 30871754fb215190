// PEFT LoRA adapters on disk: the checks vLLM applies before loading one (adapter_config.json
// with peft_type LORA, matching base model, rank within --max-lora-rank, a safetensors file whose
// tensors fit the config), and a generator that writes valid ones for tests and demos.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
};
const MAX_HEADER = 100 * 1024 * 1024;

export type TensorInfo = { dtype: string; shape: number[]; data_offsets: [number, number] };
export type AdapterConfig = {
  peft_type: string;
  base_model_name_or_path: string;
  r: number;
  lora_alpha?: number;
  target_modules: string[];
  [k: string]: unknown;
};
export type AdapterCheck =
  | { ok: true; config: AdapterConfig; weightsSha256: string; bytes: number; tensors: number }
  | { ok: false; code: "not_found" | "invalid"; message: string };

/** Parses a safetensors buffer's header and checks every tensor's offsets and size. */
function parseSafetensors(buf: Buffer): Record<string, TensorInfo> {
  if (buf.length < 8) throw new Error("safetensors file is shorter than its 8-byte header length");
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER, buf.length - 8)))
    throw new Error("safetensors header length exceeds the file");
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + Number(n)).toString("utf8"));
  } catch {
    throw new Error("safetensors header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new Error("safetensors header is not a JSON object");
  }
  const dataLen = buf.length - 8 - Number(n);
  const tensors: Record<string, TensorInfo> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const t = raw as Partial<TensorInfo>;
    const size = t.dtype ? DTYPE_BYTES[t.dtype] : undefined;
    if (!size || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) {
      throw new Error(`tensor '${name}' has a malformed entry`);
    }
    const [begin, end] = t.data_offsets;
    const want = t.shape.reduce((a, d) => a * d, 1) * size;
    if (
      !(
        Number.isInteger(begin) &&
        Number.isInteger(end) &&
        begin >= 0 &&
        end <= dataLen &&
        end - begin === want
      )
    ) {
      throw new Error(`tensor '${name}' offsets do not match its shape and dtype`);
    }
    tensors[name] = t as TensorInfo;
  }
  if (Object.keys(tensors).length === 0) throw new Error("safetensors file holds no tensors");
  return tensors;
}

/** Validates an adapter directory the way vLLM's LoRA loader would. */
export async function checkAdapterDir(
  dir: string,
  expect: { baseModel: string; maxRank: number },
): Promise<AdapterCheck> {
  let configText: string;
  let weights: Buffer;
  try {
    configText = await readFile(join(dir, CONFIG_FILE), "utf8");
    weights = await readFile(join(dir, WEIGHTS_FILE));
  } catch {
    return { ok: false, code: "not_found", message: `no ${CONFIG_FILE} and ${WEIGHTS_FILE} under '${dir}'` };
  }
  let config: AdapterConfig;
  try {
    config = JSON.parse(configText) as AdapterConfig;
  } catch {
    return { ok: false, code: "invalid", message: `${CONFIG_FILE} is not valid JSON` };
  }
  if (config.peft_type !== "LORA")
    return { ok: false, code: "invalid", message: `peft_type is '${config.peft_type}', not 'LORA'` };
  if (config.base_model_name_or_path !== expect.baseModel) {
    return {
      ok: false,
      code: "invalid",
      message: `adapter was trained for base model '${config.base_model_name_or_path}', this engine serves '${expect.baseModel}'`,
    };
  }
  if (!Number.isInteger(config.r) || config.r < 1 || config.r > expect.maxRank) {
    return {
      ok: false,
      code: "invalid",
      message: `LoRA rank ${config.r} is outside 1..${expect.maxRank} (--max-lora-rank)`,
    };
  }
  const targets = Array.isArray(config.target_modules) ? config.target_modules : [];
  let tensors: Record<string, TensorInfo>;
  try {
    tensors = parseSafetensors(weights);
  } catch (e) {
    return { ok: false, code: "invalid", message: (e as Error).message };
  }
  for (const [name, t] of Object.entries(tensors)) {
    const m = /\.([A-Za-z0-9_]+)\.lora_(A|B)\.weight$/.exec(name);
    if (!m) return { ok: false, code: "invalid", message: `tensor '${name}' is not a lora_A/lora_B weight` };
    const [, module, ab] = m as unknown as [string, string, string];
    if (!targets.includes(module)) {
      return {
        ok: false,
        code: "invalid",
        message: `tensor '${name}' targets '${module}', which is not in target_modules`,
      };
    }
    const rankDim = ab === "A" ? t.shape[0] : t.shape[1];
    if (t.shape.length !== 2 || rankDim !== config.r) {
      return {
        ok: false,
        code: "invalid",
        message: `tensor '${name}' shape [${t.shape}] does not match rank ${config.r}`,
      };
    }
  }
  return {
    ok: true,
    config,
    weightsSha256: createHash("sha256").update(weights).digest("hex"),
    bytes: weights.length + Buffer.byteLength(configText),
    tensors: Object.keys(tensors).length,
  };
}

export type GenerateOptions = {
  baseModel: string;
  rank?: number;
  /** Approximate size of the weights file; sets the number of layers. Default 64 KiB. */
  sizeBytes?: number;
  hidden?: number;
  /** Transformer layers; when set, `sizeBytes` is ignored. */
  layers?: number;
  /** Input and output width per target module (a base model's real projections); default hidden × hidden. */
  moduleDims?: Record<string, { in: number; out: number }>;
  /** lora_alpha in the config (default 2 × rank). */
  loraAlpha?: number;
  targetModules?: string[];
  /** Different seeds give different weights, hence a different adapter identity. */
  seed?: string;
};

/** Builds a valid PEFT LoRA adapter (config + safetensors) in memory. */
export function generateAdapter(opts: GenerateOptions): { config: AdapterConfig; weights: Buffer } {
  const rank = opts.rank ?? 8;
  const hidden = opts.hidden ?? 256;
  const targets = opts.targetModules ?? ["q_proj", "v_proj"];
  const dims = (mod: string) => opts.moduleDims?.[mod] ?? { in: hidden, out: hidden };
  const perLayer = targets.reduce((n, mod) => n + rank * (dims(mod).in + dims(mod).out) * 2, 0); // F16
  const layers = opts.layers ?? Math.max(1, Math.round((opts.sizeBytes ?? 64 * 1024) / perLayer));
  const header: Record<string, TensorInfo> = {};
  let offset = 0;
  for (let layer = 0; layer < layers; layer++) {
    for (const mod of targets) {
      const base = `base_model.model.model.layers.${layer}.self_attn.${mod}`;
      for (const [ab, shape] of [
        ["A", [rank, dims(mod).in]],
        ["B", [dims(mod).out, rank]],
      ] as const) {
        const len = shape[0] * shape[1] * 2;
        header[`${base}.lora_${ab}.weight`] = {
          dtype: "F16",
          shape: [...shape],
          data_offsets: [offset, offset + len],
        };
        offset += len;
      }
    }
  }
  let headerJson = JSON.stringify({ __metadata__: { format: "pt" }, ...header });
  headerJson += " ".repeat((8 - (headerJson.length % 8)) % 8); // the format pads the header to 8 bytes
  const data = deterministicBytes(offset, `${opts.seed ?? "loraplex"}/${opts.baseModel}/${rank}`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerJson.length));
  const config: AdapterConfig = {
    peft_type: "LORA",
    base_model_name_or_path: opts.baseModel,
    r: rank,
    lora_alpha: opts.loraAlpha ?? rank * 2,
    lora_dropout: 0,
    bias: "none",
    task_type: "CAUSAL_LM",
    target_modules: targets,
  };
  return { config, weights: Buffer.concat([len, Buffer.from(headerJson), data]) };
}

export async function writeAdapter(
  dir: string,
  opts: GenerateOptions,
): Promise<{ sha256: string; bytes: number }> {
  const { config, weights } = generateAdapter(opts);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, WEIGHTS_FILE), weights);
  return { sha256: createHash("sha256").update(weights).digest("hex"), bytes: weights.length };
}

function deterministicBytes(n: number, seed: string): Buffer {
  const out = Buffer.allocUnsafe(n);
  let block = createHash("sha256").update(seed).digest();
  for (let i = 0; i < n; i += block.length) {
    block.copy(out, i, 0, Math.min(block.length, n - i));
    block = createHash("sha256").update(block).digest();
  }
  return out;
}
