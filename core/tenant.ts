// The Tenant resource: the one source of truth for the CRD (manifests/crds is generated from
// these schemas), the router's local-mode config validation, and the TypeScript types.
import { z } from "zod";
import { checkAdapterSource } from "./storage-layout.ts";

export const API_GROUP = "loraplex.io";
export const API_VERSION = "v1alpha1";
const TENANT_API_VERSION = `${API_GROUP}/${API_VERSION}`;

// Tenant names become namespace names (tenant-<name>), S3 prefixes and label values.
const TENANT_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
const ADAPTER_NAME = /^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$/;
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$/;

export const TenantName = z.string().regex(TENANT_NAME, "lowercase letters, digits and '-', at most 40");
export const ModelName = z.string().regex(MODEL_NAME, "letters, digits and . _ / : -, at most 128");

const Owner = z
  .object({
    kind: z.enum(["User", "Group", "ServiceAccount"]),
    name: z.string().min(1).max(253),
    namespace: z.string().min(1).max(63).optional().describe("Required for ServiceAccount owners"),
  })
  .strict();

export const AdapterRef = z
  .object({
    name: z.string().regex(ADAPTER_NAME, "lowercase letters, digits and '-', at most 48"),
    baseModel: ModelName,
    // 512 is far more than s3://<bucket>/tenants/<tenant>/adapters/<name>/<version>/ needs,
    // and keeps the CRD's CEL rules on it within the API server's cost budget.
    source: z.string().startsWith("s3://", "must be an s3:// URI").max(512),
    version: z.number().int().min(1).max(1_000_000),
    sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, "64 lowercase hex digits")
      .optional()
      .describe("Expected SHA-256 of adapter_model.safetensors"),
  })
  .strict();

const Policy = z
  .object({
    systemPrompt: z.string().max(32_768).optional(),
    allowClientSystemPrompt: z.boolean().default(true),
    allowRawPrompts: z
      .boolean()
      .default(false)
      .describe(
        "With allowClientSystemPrompt false: also serve /v1/completions, whose raw prompt text can imitate any turn",
      ),
    maxOutputTokens: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

/** Rate limits applied to each API key or each end user of a tenant, on top of the tenant's own. */
const ScopeLimits = z
  .object({
    requestsPerMinute: z.number().int().min(1).optional(),
    tokensPerMinute: z.number().int().min(1).optional(),
    maxConcurrent: z.number().int().min(1).optional(),
  })
  .strict();

const Limits = z
  .object({
    requestsPerMinute: z.number().int().min(1).optional(),
    tokensPerMinute: z.number().int().min(1).optional(),
    maxConcurrent: z.number().int().min(1).optional(),
    dailySpendUSD: z.number().min(0).optional(),
    monthlySpendUSD: z.number().min(0).optional(),
    alertThresholds: z.array(z.number().int().min(1).max(1000)).max(10).optional(),
    alertWebhook: z.string().url().optional(),
    failOpen: z.boolean().optional().describe("Serve when Redis is unreachable instead of failing closed"),
    maxConcurrentFineTunes: z.number().int().min(0).optional(),
    priority: z
      .number()
      .int()
      .min(-1000)
      .max(1000)
      .optional()
      .describe(
        "The plan's engine priority, set by the router as vLLM's `priority` on every request (lower is served first; needs engines run with --scheduling-policy priority). Clients cannot send it",
      ),
    perKey: ScopeLimits.optional().describe("Limits for each API key of the tenant"),
    perUser: ScopeLimits.optional().describe("Limits for each end user (the request's `user` field)"),
  })
  .strict();

const Audit = z
  .object({
    mode: z.enum(["full", "hashes", "none"]).default("hashes"),
    retentionDays: z.number().int().min(1).max(3650).default(90),
  })
  .strict();

/** Defaults of the fair queue in front of a shared pool (router/fairness). */
const DEFAULT_QUEUE_DEPTH = 64;
const DEFAULT_QUEUE_WAIT_SECONDS = 30;

/**
 * Noisy-neighbour protection: when a shared pool is saturated, requests wait in a queue per
 * tenant (or per end user) and the router dispatches by weighted token service (VTC).
 */
const Fairness = z
  .object({
    weight: z
      .number()
      .min(0.01)
      .max(100)
      .default(1)
      .describe(
        "Share of a saturated pool relative to other tenants (2 = twice a weight-1 tenant's service)",
      ),
    perUser: z
      .boolean()
      .default(false)
      .describe(
        "Queue per end user (the request's `user` field): each user is its own fairness key with the tenant's weight",
      ),
    maxQueueDepth: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(DEFAULT_QUEUE_DEPTH)
      .describe("Requests that may wait per queue while the pool is saturated; more → 429"),
    maxQueueWaitSeconds: z
      .number()
      .min(0.1)
      .max(600)
      .default(DEFAULT_QUEUE_WAIT_SECONDS)
      .describe("Longest a request waits in the queue before a 429"),
  })
  .strict();

export const Toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(["Exists", "Equal"]).optional(),
    value: z.string().optional(),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .strict();

/** vLLM accepts only these values for --max-lora-rank. */
export const LoraRank = z.literal([1, 8, 16, 32, 64, 128, 256, 320, 512]);

/** A Kubernetes resource quantity such as "8", "500m", "32Gi". */
export const Quantity = z
  .string()
  .regex(
    /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/,
    "a Kubernetes quantity such as 8, 500m or 32Gi",
  );

export const EngineResources = z
  .object({
    cpu: Quantity.optional(),
    memory: Quantity.optional(),
  })
  .strict();

const Dedicated = z
  .object({
    model: ModelName.optional().describe(
      "Base model of the dedicated pool; defaults to the first of spec.models",
    ),
    replicas: z.number().int().min(0).max(100).default(1),
    gpusPerReplica: z.number().int().min(0).max(16).default(1),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    tolerations: z.array(Toleration).optional(),
    maxLoras: z.number().int().min(1).max(256).optional(),
    // Engine settings the controller copies into the tenant's ModelPool (core/model-pool.ts).
    modelSource: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe("What vLLM loads (Hugging Face id or local path); default: the model name"),
    maxLoraRank: LoraRank.optional(),
    maxCpuLoras: z.number().int().min(1).max(1024).optional(),
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe("vLLM image; default: the controller's --engine-image"),
    resources: EngineResources.optional().describe("CPU and memory of each engine replica"),
  })
  .strict();

const Storage = z
  .object({
    bucket: z.string().min(3).max(63).optional(),
    prefix: z.string().max(512).optional(),
  })
  .strict();

/** Vector stores (retrieval/): chunks are embedded by the tenant's own pool with this model. */
const Retrieval = z
  .object({
    embeddingModel: ModelName.describe(
      "Base model (one of spec.models) whose /v1/embeddings embeds the tenant's vector store files and queries",
    ),
  })
  .strict();

export const TenantSpec = z
  .object({
    tier: z.enum(["shared", "dedicated"]).default("shared"),
    // List bounds keep the CRD's CEL rules within the API server's cost budget.
    owners: z.array(Owner).max(64).default([]),
    models: z.array(ModelName).min(1).max(32),
    pool: z.string().min(1).max(63).optional().describe("Engine pool for the shared tier; default 'shared'"),
    adapters: z.array(AdapterRef).max(256).default([]),
    policy: Policy.default({ allowClientSystemPrompt: true, allowRawPrompts: false }),
    limits: Limits.optional(),
    audit: Audit.default({ mode: "hashes", retentionDays: 90 }),
    fairness: Fairness.default({
      weight: 1,
      perUser: false,
      maxQueueDepth: DEFAULT_QUEUE_DEPTH,
      maxQueueWaitSeconds: DEFAULT_QUEUE_WAIT_SECONDS,
    }),
    dedicated: Dedicated.optional(),
    storage: Storage.optional(),
    retrieval: Retrieval.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.tier === "dedicated" && !spec.dedicated) {
      ctx.addIssue({
        code: "custom",
        path: ["dedicated"],
        message: "tier 'dedicated' requires spec.dedicated",
      });
    }
    if (spec.retrieval && !spec.models.includes(spec.retrieval.embeddingModel)) {
      ctx.addIssue({
        code: "custom",
        path: ["retrieval", "embeddingModel"],
        message: `embedding model '${spec.retrieval.embeddingModel}' is not in spec.models`,
      });
    }
    const seen = new Set<string>();
    for (const [i, a] of spec.adapters.entries()) {
      const key = `${a.name}@${a.version}`;
      if (seen.has(key))
        ctx.addIssue({ code: "custom", path: ["adapters", i], message: `duplicate adapter ${key}` });
      seen.add(key);
      // A client's `model` names either; one name for both would make it ambiguous.
      if (spec.models.includes(a.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["adapters", i, "name"],
          message: `adapter name '${a.name}' is also a base model name`,
        });
      }
      if (!spec.models.includes(a.baseModel)) {
        ctx.addIssue({
          code: "custom",
          path: ["adapters", i, "baseModel"],
          message: `base model '${a.baseModel}' is not in spec.models`,
        });
      }
    }
  });

export const Tenant = z
  .object({
    apiVersion: z.literal(TENANT_API_VERSION),
    kind: z.literal("Tenant"),
    metadata: z.object({ name: TenantName }).passthrough(),
    spec: TenantSpec,
  })
  .superRefine((t, ctx) => {
    // A tenant's adapters live under its own prefix (core/storage-layout.ts): a source anywhere
    // else would let one tenant serve another's weights. The bucket is checked here only when
    // the spec names one; the controller and the agent check the deployment's default too.
    for (const [i, a] of t.spec.adapters.entries()) {
      const gate = checkAdapterSource(a.source, t.metadata.name, t.spec.storage?.bucket);
      if (!gate.ok)
        ctx.addIssue({ code: "custom", path: ["spec", "adapters", i, "source"], message: gate.reason });
    }
  });

export type TenantSpec = z.infer<typeof TenantSpec>;
export type AdapterRef = z.infer<typeof AdapterRef>;
export type Fairness = z.infer<typeof Fairness>;
export type Tenant = z.infer<typeof Tenant>;

/** Validates a parsed YAML/JSON document; errors name the field ("spec.adapters.0.source: ..."). */
export function parseTenant(doc: unknown): { ok: true; tenant: Tenant } | { ok: false; error: string } {
  const r = Tenant.safeParse(doc);
  if (r.success) return { ok: true, tenant: r.data };
  return {
    ok: false,
    error: r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "),
  };
}
