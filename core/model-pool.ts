// The ModelPool resource: one vLLM Deployment (with the adapter agent beside each engine), the
// Service the router discovers it by, and a PodDisruptionBudget. The shared pool lives in the
// system namespace; each dedicated tenant gets a pool named "engine" in its own namespace.
import { z } from "zod";
import { Conditions } from "./conditions.ts";
import { EngineResources, LoraRank, ModelName, Quantity, Toleration } from "./tenant.ts";

export const MODEL_POOL_KIND = "ModelPool";
export const DEFAULT_ENGINE_IMAGE = "vllm/vllm-openai:v0.11.0";
export const ENGINE_PORT = 8000;
export const AGENT_PORT = 8001;

/**
 * What a pool's engine container runs: vLLM (production), or Loraplex's engine simulator
 * (`loraplex engine-sim`: vLLM's OpenAI and LoRA-loading API without a GPU or a model, for tests
 * and demos; its answers are generated text, not a model's).
 */
export const Engine = z.enum(["vllm", "simulator"]);
export type Engine = z.infer<typeof Engine>;

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const AgentSettings = z
  .object({
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe("Adapter agent image; default: the controller's --agent-image"),
    cacheSize: Quantity.default("20Gi").describe("Size of the adapter cache emptyDir shared with vLLM"),
    s3SecretName: z
      .string()
      .regex(K8S_NAME)
      .max(253)
      .default("loraplex-s3")
      .describe("Secret in the pool's namespace with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"),
    bucket: z.string().min(3).max(63).optional().describe("The only bucket adapters may come from"),
    resources: EngineResources.optional(),
  })
  .strict();

export const ModelPoolSpec = z
  .object({
    model: ModelName.describe("Base model name the pool serves (vLLM --served-model-name)"),
    engine: Engine.optional().describe(
      "vllm, or simulator: Loraplex's engine simulator (no GPU, no model; for tests and demos); default: the controller's --default-engine (vllm)",
    ),
    modelSource: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe(
        "What vLLM loads (`vllm serve <modelSource>`): a Hugging Face id or a local path; default: model",
      ),
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe("vLLM image; default: the controller's --engine-image"),
    replicas: z.number().int().min(0).max(100).default(1),
    gpusPerReplica: z.number().int().min(0).max(16).default(1),
    gpuResource: z.string().min(1).max(253).default("nvidia.com/gpu"),
    maxLoras: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(8)
      .describe("vLLM --max-loras: adapters resident on the GPU"),
    maxLoraRank: LoraRank.default(64).describe("vLLM --max-lora-rank"),
    maxCpuLoras: z.number().int().min(1).max(1024).optional().describe("vLLM --max-cpu-loras (>= maxLoras)"),
    extraArgs: z.array(z.string().max(1024)).max(64).optional().describe("Further vLLM arguments"),
    resources: EngineResources.optional().describe("CPU and memory of the vLLM container"),
    shmSize: Quantity.default("2Gi").describe("Size of /dev/shm (vLLM uses it between GPU workers)"),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    tolerations: z.array(Toleration).max(32).optional(),
    serviceAccountName: z.string().regex(K8S_NAME).max(253).optional(),
    agent: AgentSettings.default({ cacheSize: "20Gi", s3SecretName: "loraplex-s3" }),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.maxCpuLoras !== undefined && spec.maxCpuLoras < spec.maxLoras) {
      ctx.addIssue({ code: "custom", path: ["maxCpuLoras"], message: "maxCpuLoras must be >= maxLoras" });
    }
  });

export const ModelPoolStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional(),
    service: z.string().optional().describe("Name of the engine Service the router discovers"),
    engine: Engine.optional().describe(
      "The engine the pool's Pods run (spec.engine or the controller's default)",
    ),
    replicas: z.number().int().min(0).optional(),
    readyReplicas: z.number().int().min(0).optional(),
    conditions: Conditions.optional(),
  })
  .strict();

export type ModelPoolSpec = z.infer<typeof ModelPoolSpec>;
export type ModelPoolSpecInput = z.input<typeof ModelPoolSpec>;
export type ModelPoolStatus = z.infer<typeof ModelPoolStatus>;

export function parseModelPoolSpec(
  spec: unknown,
): { ok: true; spec: ModelPoolSpec } | { ok: false; error: string } {
  const r = ModelPoolSpec.safeParse(spec);
  if (r.success) return { ok: true, spec: r.data };
  return {
    ok: false,
    error: r.error.issues.map((i) => `spec.${i.path.join(".")}: ${i.message}`).join("; "),
  };
}
