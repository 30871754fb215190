// vLLM's runtime LoRA API (VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) and /v1/models:
//   POST /v1/load_lora_adapter {lora_name, lora_path, load_inplace?} → 200 text on success
//   POST /v1/unload_lora_adapter {lora_name}                         → 200 text / 404
//   GET  /v1/models: the base model card, then one card per registered adapter.
import type { Engine } from "./engine.ts";
import { EngineError, invalidParam } from "./errors.ts";
import { asObject } from "./validation.ts";

export async function loadAdapter(engine: Engine, body: unknown): Promise<string> {
  const b = asObject(body);
  const name = optionalString(b, "lora_name");
  const path = optionalString(b, "lora_path");
  const inplace = b.load_inplace ?? false;
  if (typeof inplace !== "boolean")
    throw invalidParam("load_inplace", "Input should be a valid boolean", inplace);
  if (!name || !path) {
    throw new EngineError(400, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput");
  }
  if (name === engine.opts.model) {
    throw new EngineError(
      400,
      `The lora adapter name '${name}' is the served base model's name.`,
      "InvalidUserInput",
    );
  }
  const message = await engine.loras.load(name, path, inplace);
  engine.log.info({ lora_name: name, lora_path: path }, "loaded LoRA adapter");
  return message;
}

export async function unloadAdapter(engine: Engine, body: unknown): Promise<string> {
  const name = optionalString(asObject(body), "lora_name");
  if (!name) {
    throw new EngineError(
      400,
      "'lora_name' needs to be provided to unload a LoRA adapter.",
      "InvalidUserInput",
    );
  }
  const message = await engine.loras.unload(name);
  engine.log.info({ lora_name: name }, "unloaded LoRA adapter");
  return message;
}

export function listModels(engine: Engine, startedAt: number): unknown {
  const base = engine.opts.model;
  return {
    object: "list",
    data: [
      card(base, startedAt, { root: base, parent: null, max_model_len: engine.opts.maxModelLen }),
      ...engine.loras
        .list()
        .map((a) => card(a.name, a.created, { root: a.path, parent: base, max_model_len: null })),
    ],
  };
}

function card(id: string, created: number, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    id,
    object: "model",
    created,
    owned_by: "vllm",
    ...extra,
    permission: [
      {
        id: `modelperm-${id}`,
        object: "model_permission",
        created,
        allow_create_engine: false,
        allow_sampling: true,
        allow_logprobs: true,
        allow_search_indices: false,
        allow_view: true,
        allow_fine_tuning: false,
        organization: "*",
        group: null,
        is_blocking: false,
      },
    ],
  };
}

function optionalString(b: Record<string, unknown>, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalidParam(key, "Input should be a valid string", v);
  return v;
}
