// What the controller reports on a Tenant (status subresource). The CRD schema is generated
// from this, so `kubectl get tenants` and the router read the same shape the controller writes.
import { z } from "zod";
import { Conditions } from "./conditions.ts";

export const AdapterStatus = z
  .object({
    name: z.string(),
    version: z.number().int(),
    loraName: z.string().describe("The name engines know this adapter version by"),
    ready: z
      .boolean()
      .describe("Whether the adapter passed the controller's checks (source gate, base model)"),
    message: z.string().optional(),
  })
  .strict();

export const TenantStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional(),
    tier: z.enum(["shared", "dedicated"]).optional().describe("The tier the controller last reconciled"),
    namespace: z.string().optional().describe("The dedicated namespace (dedicated tier only)"),
    pool: z.string().optional().describe("The engine pool serving this tenant, as <namespace>/<name>"),
    endpoint: z.string().optional().describe("In-cluster URL of the pool's engine Service"),
    engineReplicas: z.number().int().min(0).optional(),
    engineReadyReplicas: z.number().int().min(0).optional(),
    adaptersReady: z.number().int().min(0).optional(),
    adapters: z.array(AdapterStatus).optional(),
    conditions: Conditions.optional(),
  })
  .strict();

export type TenantStatus = z.infer<typeof TenantStatus>;
export type AdapterStatus = z.infer<typeof AdapterStatus>;
