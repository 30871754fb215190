// The Kubernetes Job that trains one fine-tune. Its name derives from the fine-tune id, so
// creating it again (a retried or recovered task) finds the same Job instead of training twice.
// S3 credentials come from a per-tenant Secret (envFrom) whose keys are scoped to the tenant's
// prefix: locally a Secret per tenant with an access key limited to tenants/<tenant>/; on AWS
// the Secret is replaced by a prefix-scoped IAM role (IRSA) on a per-tenant service account.

import { tenantNamespace } from "../core/cluster-layout.ts";
import { adapterPrefix, fileKey } from "../core/storage-layout.ts";
import type { Tenant } from "../core/tenant.ts";
import type { JobObject } from "../fine-tuning/jobs-store.ts";
import { type KubeObject, TENANT_LABEL } from "../kube/types.ts";

export const FINE_TUNE_LABEL = "loraplex.io/fine-tune";

export type JobPlacement = {
  image: string;
  /**
   * Run `loraplex train-sim` (the training simulator) from `image`, which is then the Loraplex
   * image, instead of the training image's entrypoint: for clusters without GPUs (e2e tests).
   */
  simulator?: boolean;
  /** Namespace of shared-tier tenants' training Jobs; dedicated tenants train in tenant-<name>. */
  trainingNamespace: string;
  /** nvidia.com/gpu per Job (0: no GPU request, e.g. a CPU test cluster). */
  gpus: number;
  nodeSelector: Record<string, string>;
  activeDeadlineSeconds: number;
  /** Seconds a finished Job is kept for inspection before Kubernetes removes it. */
  ttlSecondsAfterFinished: number;
  bucket: string;
  /** The per-tenant Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and S3_ENDPOINT). */
  s3SecretName(tenant: string): string;
};

// The Loraplex image runs as user 1000 and writes nothing to its filesystem, so the simulator's
// pod meets Pod Security "restricted" (the level a tenant namespace may enforce), like the chart's
// own pods. The real training image's user is the image's own business, so it gets none of this.
const SIMULATOR_POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  seccompProfile: { type: "RuntimeDefault" },
};
const SIMULATOR_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

/** ft-<hex of the fine-tune id>: both the Job's name and the adapter's name (a valid one). */
export function fineTuneResourceName(jobId: string): string {
  return `ft-${jobId.replace(/^ftjob-/, "")}`;
}

export const ADAPTER_VERSION = 1;

export function outputUri(bucket: string, tenant: string, jobId: string): string {
  return `s3://${bucket}/${adapterPrefix(tenant, fineTuneResourceName(jobId), ADAPTER_VERSION)}`;
}

export function namespaceFor(tenant: Tenant, trainingNamespace: string): string {
  return tenant.spec.tier === "dedicated" ? tenantNamespace(tenant.metadata.name) : trainingNamespace;
}

export function buildJobManifest(tenant: Tenant, job: JobObject, p: JobPlacement): KubeObject {
  const name = tenant.metadata.name;
  const h = job.hyperparameters;
  const env: Record<string, string> = {
    FINE_TUNE_ID: job.id,
    BASE_MODEL: job.model,
    TRAINING_FILE_URI: `s3://${p.bucket}/${fileKey(name, job.training_file)}`,
    OUTPUT_URI: outputUri(p.bucket, name, job.id),
    N_EPOCHS: String(h.n_epochs),
    BATCH_SIZE: String(h.batch_size),
    LEARNING_RATE_MULTIPLIER: String(h.learning_rate_multiplier),
    LORA_RANK: String(h.lora_rank),
    LORA_ALPHA: String(h.lora_alpha),
    SEED: String(job.seed),
  };
  if (job.validation_file) env.VALIDATION_FILE_URI = `s3://${p.bucket}/${fileKey(name, job.validation_file)}`;
  const labels = { [TENANT_LABEL]: name, [FINE_TUNE_LABEL]: job.id };
  const gpu = p.gpus > 0 ? { "nvidia.com/gpu": String(p.gpus) } : undefined;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: fineTuneResourceName(job.id),
      namespace: namespaceFor(tenant, p.trainingNamespace),
      labels,
    },
    spec: {
      // Retries belong to the trainer (infrastructure failures only), never to Kubernetes.
      backoffLimit: 0,
      activeDeadlineSeconds: p.activeDeadlineSeconds,
      ttlSecondsAfterFinished: p.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          nodeSelector: p.nodeSelector,
          ...(p.simulator ? { securityContext: SIMULATOR_POD_SECURITY } : {}),
          containers: [
            {
              name: "trainer",
              image: p.image,
              ...(p.simulator ? { args: ["train-sim"], securityContext: SIMULATOR_CONTAINER_SECURITY } : {}),
              env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
              envFrom: [{ secretRef: { name: p.s3SecretName(name) } }],
              ...(gpu ? { resources: { limits: gpu, requests: gpu } } : {}),
            },
          ],
        },
      },
    },
  };
}

type Condition = { type?: string; status?: string; reason?: string; message?: string };

/** A Job's outcome from its conditions: undefined while it runs. */
export function jobOutcome(
  k: KubeObject,
): { done: "complete" } | { done: "failed"; reason: string } | undefined {
  const conditions = ((k.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).filter(
    (c) => c.status === "True",
  );
  if (conditions.some((c) => c.type === "Complete")) return { done: "complete" };
  const failed = conditions.find((c) => c.type === "Failed");
  if (failed)
    return { done: "failed", reason: [failed.reason, failed.message].filter(Boolean).join(": ") || "Failed" };
  return undefined;
}
