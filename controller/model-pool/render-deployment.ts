// The engine Deployment of a ModelPool: the engine (vLLM with runtime LoRA loading enabled, or
// the engine simulator; see engine-container.ts) and the adapter agent beside it. The two containers share an emptyDir: the agent downloads and verifies an
// adapter into it, then asks vLLM (over localhost) to load it from the same path.
import { engineName } from "../../core/cluster-layout.ts";
import { AGENT_PORT, ENGINE_PORT, type ModelPoolSpec } from "../../core/model-pool.ts";
import type { KubeObject } from "../../kube/types.ts";
import { POOL_LABEL, TENANT_LABEL } from "../../kube/types.ts";
import type { ControllerConfig, ModelPoolObject } from "../context.ts";
import { managedLabels, ownerRef } from "../context.ts";
import { quantityValue } from "../quantity.ts";
import { ADAPTER_DIR, DEFAULT_ENGINE, dropAll, engineContainer, http } from "./engine-container.ts";

export const ENGINE_APP_LABELS = { "app.kubernetes.io/name": "loraplex-engine" };
const DEFAULT_AGENT = { cpu: "250m", memory: "512Mi" };

type Resources = { cpu?: string; memory?: string } | undefined;

/** CPU cores and memory bytes one engine pod requests (vLLM + agent). */
export function enginePodResources(r: { resources: Resources; agentResources: Resources }) {
  const cpu = (x: Resources, d: string) => quantityValue(x?.cpu ?? d) ?? 0;
  const mem = (x: Resources, d: string) => quantityValue(x?.memory ?? d) ?? 0;
  return {
    cpuCores: cpu(r.resources, DEFAULT_ENGINE.cpu) + cpu(r.agentResources, DEFAULT_AGENT.cpu),
    memoryBytes: mem(r.resources, DEFAULT_ENGINE.memory) + mem(r.agentResources, DEFAULT_AGENT.memory),
  };
}

export function poolSelector(pool: string): Record<string, string> {
  return { ...ENGINE_APP_LABELS, [POOL_LABEL]: pool };
}

export function poolLabels(mp: ModelPoolObject): Record<string, string> {
  const tenant = mp.metadata.labels?.[TENANT_LABEL];
  return managedLabels({ [POOL_LABEL]: mp.metadata.name!, ...(tenant ? { [TENANT_LABEL]: tenant } : {}) });
}

export function renderDeployment(
  mp: ModelPoolObject,
  spec: ModelPoolSpec,
  config: ControllerConfig,
): KubeObject {
  const pool = mp.metadata.name!;
  const agent = {
    cpu: spec.agent.resources?.cpu ?? DEFAULT_AGENT.cpu,
    memory: spec.agent.resources?.memory ?? DEFAULT_AGENT.memory,
  };
  const cacheBytes = Math.floor((quantityValue(spec.agent.cacheSize) ?? 0) * 0.9); // headroom below the emptyDir limit
  const engine = engineContainer(spec, config);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: engineName(pool),
      namespace: mp.metadata.namespace,
      labels: poolLabels(mp),
      ownerReferences: [ownerRef(mp)],
    },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: poolSelector(pool) },
      // GPUs are scarce: replace one pod at a time instead of asking for a surge GPU.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: { labels: { ...poolSelector(pool), "app.kubernetes.io/part-of": "loraplex" } },
        spec: {
          ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 60,
          securityContext: { seccompProfile: { type: "RuntimeDefault" } },
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
          containers: [
            engine,
            {
              name: "agent",
              image: spec.agent.image ?? config.agentImage,
              args: [
                "agent",
                "--host",
                "0.0.0.0",
                "--port",
                String(AGENT_PORT),
                "--engine-url",
                `http://127.0.0.1:${ENGINE_PORT}`,
                "--cache-dir",
                ADAPTER_DIR,
                "--cache-max-bytes",
                String(cacheBytes),
                "--bucket",
                spec.agent.bucket ?? config.bucket,
                "--base-model",
                spec.model,
                "--max-lora-rank",
                String(spec.maxLoraRank),
              ],
              env: [
                { name: "S3_ENDPOINT", value: config.s3Endpoint },
                { name: "S3_REGION", value: config.s3Region },
                { name: "S3_FORCE_PATH_STYLE", value: String(config.s3ForcePathStyle) },
                { name: "S3_BUCKET", value: spec.agent.bucket ?? config.bucket },
              ],
              envFrom: [{ secretRef: { name: spec.agent.s3SecretName } }],
              ports: [{ name: "agent", containerPort: AGENT_PORT, protocol: "TCP" }],
              resources: {
                requests: { cpu: agent.cpu, memory: agent.memory },
                limits: { memory: agent.memory },
              },
              readinessProbe: http("agent", "/health", 5, 3),
              livenessProbe: http("agent", "/health", 10, 6),
              securityContext: {
                ...dropAll,
                runAsNonRoot: true,
                runAsUser: 1000,
                runAsGroup: 1000,
                readOnlyRootFilesystem: true,
              },
              volumeMounts: [
                { name: "adapters", mountPath: ADAPTER_DIR },
                { name: "tmp", mountPath: "/tmp" },
              ],
            },
          ],
          volumes: [
            { name: "adapters", emptyDir: { sizeLimit: spec.agent.cacheSize } },
            { name: "cache", emptyDir: {} },
            { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
            { name: "shm", emptyDir: { medium: "Memory", sizeLimit: spec.shmSize } },
          ],
        },
      },
    },
  };
}
