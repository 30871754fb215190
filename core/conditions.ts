// Status conditions as Kubernetes API conventions define them (metav1.Condition), shared by the
// Tenant and ModelPool status schemas and by the controller that writes them.
import { z } from "zod";

export const CONDITION_TYPES = ["Ready", "Progressing", "Degraded"] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const Condition = z
  .object({
    type: z.string().min(1).max(316),
    status: z.enum(["True", "False", "Unknown"]),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/, "CamelCase reason"),
    message: z.string().max(32_768),
    lastTransitionTime: z.string().describe("RFC 3339 time of the last change of status"),
    observedGeneration: z.number().int().min(0).optional(),
  })
  .strict();

export type Condition = z.infer<typeof Condition>;

/** Conditions form a map keyed by type: server-side apply and `kubectl wait` rely on it. */
export const Conditions = z.array(Condition).meta({
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
});

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
