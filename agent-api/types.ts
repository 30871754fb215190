// The agent's HTTP API shapes, shared by the server and the typed client the router uses.

export type LoadRequest = {
  tenant: string;
  adapter: string;
  version: number;
  /** s3://<bucket>/tenants/<tenant>/adapters/... — checked against the tenant's prefix. */
  source: string;
  /** Expected SHA-256 (hex) of adapter_model.safetensors. */
  sha256?: string;
};

export type LoadResult = {
  lora_name: string;
  tenant: string;
  adapter: string;
  version: number;
  bytes: number;
  download_ms: number;
  load_ms: number;
  /** Served from the agent's disk cache, no download. */
  cached: boolean;
  /** The engine already had it registered; no load call was needed. */
  already_loaded: boolean;
};

export type AgentAdapter = {
  lora_name: string;
  tenant: string;
  adapter: string;
  version: number;
  bytes: number;
  /** ISO 8601 time of the last load request for it. */
  last_used: string;
  /** The engine has it registered right now (checked against the engine's /v1/models). */
  loaded: boolean;
};

export type AgentInventory = { adapters: AgentAdapter[]; cache_bytes: number; cache_max_bytes: number };

export type RemoveResult = { lora_name: string; unloaded: boolean; removed: true };

export type EraseResult = { removed: number };

export type AgentHealth = { status: "ok" | "unavailable"; engine: "ok" | "unavailable"; reason?: string };

export type AgentErrorBody = { error: { message: string; type: string; code: string } };
