// The engine container of a pool's Pods: vLLM in production, or Loraplex's engine simulator
// (spec.engine "simulator", or the controller's --default-engine) where there is no GPU. The
// simulator runs from the Loraplex image (the agent's) and serves the same port and API, so the
// agent, the Service and the router treat both alike.
import { ENGINE_PORT, type Engine, type ModelPoolSpec } from "../../core/model-pool.ts";
import type { ControllerConfig } from "../context.ts";

export const ADAPTER_DIR = "/adapters";
export const DEFAULT_ENGINE = { cpu: "4", memory: "32Gi" };
const DEFAULT_SIMULATOR = { cpu: "50m", memory: "256Mi" };

export const dropAll = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };

export const http = (port: string, path: string, period: number, failures: number) => ({
  httpGet: { path, port },
  periodSeconds: period,
  failureThreshold: failures,
  timeoutSeconds: 5,
});

function poolEngine(spec: ModelPoolSpec, config: ControllerConfig): Engine {
  return spec.engine ?? config.defaultEngine;
}

function vllmArgs(spec: ModelPoolSpec): string[] {
  const args = [
    spec.modelSource ?? spec.model,
    "--served-model-name",
    spec.model,
    "--host",
    "0.0.0.0",
    "--port",
    String(ENGINE_PORT),
    "--enable-lora",
    "--max-loras",
    String(spec.maxLoras),
    "--max-lora-rank",
    String(spec.maxLoraRank),
  ];
  if (spec.maxCpuLoras !== undefined) args.push("--max-cpu-loras", String(spec.maxCpuLoras));
  return [...args, ...(spec.extraArgs ?? [])];
}

const volumeMounts = [
  { name: "adapters", mountPath: ADAPTER_DIR, readOnly: true },
  { name: "cache", mountPath: "/cache" },
  { name: "shm", mountPath: "/dev/shm" },
];

export function engineContainer(spec: ModelPoolSpec, config: ControllerConfig): Record<string, unknown> {
  const ports = [{ name: "http", containerPort: ENGINE_PORT, protocol: "TCP" }];
  if (poolEngine(spec, config) === "simulator") {
    const r = {
      cpu: spec.resources?.cpu ?? DEFAULT_SIMULATOR.cpu,
      memory: spec.resources?.memory ?? DEFAULT_SIMULATOR.memory,
    };
    const args = ["engine-sim", "--host", "0.0.0.0", "--port", String(ENGINE_PORT), "--model", spec.model];
    args.push("--max-loras", String(spec.maxLoras), "--max-lora-rank", String(spec.maxLoraRank));
    if (spec.maxCpuLoras !== undefined) args.push("--max-cpu-loras", String(spec.maxCpuLoras));
    return {
      name: "engine-sim",
      image: spec.image ?? config.agentImage,
      args,
      ports,
      // No GPU: the simulator computes nothing.
      resources: { requests: r, limits: { memory: r.memory } },
      readinessProbe: http("http", "/health", 5, 3),
      livenessProbe: http("http", "/health", 10, 6),
      securityContext: {
        ...dropAll,
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        readOnlyRootFilesystem: true,
      },
      volumeMounts,
    };
  }
  const r = {
    cpu: spec.resources?.cpu ?? DEFAULT_ENGINE.cpu,
    memory: spec.resources?.memory ?? DEFAULT_ENGINE.memory,
  };
  const gpus = spec.gpusPerReplica > 0 ? { [spec.gpuResource]: String(spec.gpusPerReplica) } : {};
  return {
    name: "vllm",
    image: spec.image ?? config.engineImage,
    command: ["vllm", "serve"],
    args: vllmArgs(spec),
    env: [
      { name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" },
      { name: "HF_HOME", value: "/cache/huggingface" },
    ],
    ports,
    resources: { requests: { ...r, ...gpus }, limits: { memory: r.memory, ...gpus } },
    // Model loading can take many minutes; liveness starts only once /health answers.
    startupProbe: http("http", "/health", 10, 180),
    readinessProbe: http("http", "/health", 5, 3),
    livenessProbe: http("http", "/health", 10, 6),
    securityContext: dropAll,
    volumeMounts,
  };
}
