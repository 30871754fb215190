// The body of POST /v1/fine_tuning/jobs, checked field by field so every rejection names its
// parameter. "auto" hyperparameters resolve to Loraplex's defaults here, so a stored job always
// says exactly what it will train with. LoRA rank/alpha are a documented Loraplex extension
// (hyperparameters.lora_rank / lora_alpha), also accepted under method.supervised.hyperparameters.

import { ApiError, invalidRequest } from "../../core/errors.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { Hyperparameters, NewJob } from "../../fine-tuning/jobs-store.ts";

const DEFAULTS: Hyperparameters = {
  n_epochs: 3,
  batch_size: 8,
  learning_rate_multiplier: 1,
  lora_rank: 8,
  lora_alpha: 16,
};
// [min, max, integer?] for each hyperparameter.
const RANGES: Record<keyof Hyperparameters, [number, number, boolean]> = {
  n_epochs: [1, 50, true],
  batch_size: [1, 256, true],
  learning_rate_multiplier: [0.001, 10, false],
  lora_rank: [1, 64, true],
  lora_alpha: [1, 512, false],
};
const SUFFIX = /^[a-z0-9][a-z0-9-]{0,39}$/;
const FILE_ID = /^file-[A-Za-z0-9]{1,64}$/;

export function parseJobRequest(tenant: Tenant, body: unknown): NewJob {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.", "body");
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== "string" || b.model === "") throw invalidRequest("model is required.", "model");
  if (!tenant.spec.models.includes(b.model)) {
    throw new ApiError(400, `Model '${b.model}' is not available for fine-tuning to this tenant.`, {
      code: "model_not_available",
      param: "model",
    });
  }
  const trainingFile = fileId(b.training_file, "training_file", true)!;
  const validationFile = fileId(b.validation_file, "validation_file", false);
  let suffix: string | null = null;
  if (b.suffix !== undefined && b.suffix !== null) {
    if (typeof b.suffix !== "string" || !SUFFIX.test(b.suffix)) {
      throw invalidRequest(
        "suffix must be 1-40 lowercase letters, digits or '-', starting with a letter or digit.",
        "suffix",
      );
    }
    suffix = b.suffix;
  }
  let seed = Math.floor(Math.random() * 2 ** 31);
  if (b.seed !== undefined && b.seed !== null) {
    if (typeof b.seed !== "number" || !Number.isInteger(b.seed) || b.seed < 0 || b.seed > 2 ** 31 - 1) {
      throw invalidRequest("seed must be an integer from 0 to 2147483647.", "seed");
    }
    seed = b.seed;
  }
  const method = b.method;
  let supervised: unknown;
  if (method !== undefined && method !== null) {
    if (typeof method !== "object" || Array.isArray(method) || own(method, "type") !== "supervised") {
      throw invalidRequest("Only method.type 'supervised' is supported.", "method");
    }
    const sup = own(method, "supervised");
    if (sup !== undefined && sup !== null) {
      if (typeof sup !== "object" || Array.isArray(sup)) {
        throw invalidRequest("method.supervised must be an object.", "method.supervised");
      }
      supervised = own(sup, "hyperparameters");
    }
  }
  const given = { ...asObject(supervised), ...asObject(b.hyperparameters) };
  const hyperparameters = { ...DEFAULTS };
  for (const [name, value] of Object.entries(given)) {
    // Own keys only: 'constructor' or '__proto__' are names on every object, not hyperparameters.
    if (!Object.hasOwn(RANGES, name)) {
      const shown = name.slice(0, 64);
      throw invalidRequest(`Unknown hyperparameter '${shown}'.`, `hyperparameters.${shown}`);
    }
    if (value === "auto" || value === undefined || value === null) continue;
    const key = name as keyof Hyperparameters;
    const [min, max, integer] = RANGES[key];
    if (
      typeof value !== "number" ||
      !Number.isFinite(value) ||
      value < min ||
      value > max ||
      (integer && !Number.isInteger(value))
    ) {
      throw invalidRequest(
        `${name} must be 'auto' or ${integer ? "an integer" : "a number"} from ${min} to ${max}.`,
        `hyperparameters.${name}`,
      );
    }
    hyperparameters[key] = value;
  }
  return {
    model: b.model,
    training_file: trainingFile,
    validation_file: validationFile,
    suffix,
    seed,
    hyperparameters,
  };
}

function fileId(v: unknown, param: string, required: boolean): string | null {
  if (v === undefined || v === null) {
    if (required) throw invalidRequest(`${param} is required.`, param);
    return null;
  }
  if (typeof v !== "string" || !FILE_ID.test(v))
    throw invalidRequest(`${param} must be a file id like 'file-...'.`, param);
  return v;
}

/** A property the client's JSON really has, never one inherited from Object.prototype. */
function own(o: object, key: string): unknown {
  return Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

function asObject(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw invalidRequest("hyperparameters must be an object.", "hyperparameters");
  return v as Record<string, unknown>;
}
