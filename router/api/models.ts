// GET /v1/models: only the caller tenant's base models and adapters, under the names the client
// uses in `model` (base names, `support-bot` for the latest version, `support-bot@1`...).
import type { Tenant } from "../../core/tenant.ts";
import { modelTable } from "../resolve-model.ts";

export type ModelObject = {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  /** For adapters, the base model they run on (as vLLM's own /v1/models reports it). */
  parent?: string;
  root: string;
};
export type ModelList = { object: "list"; data: ModelObject[] };

// Built once per Tenant object, like the resolve table: the list only changes with the tenant.
const lists = new WeakMap<Tenant, ModelList>();

export function listModels(tenant: Tenant): ModelList {
  let list = lists.get(tenant);
  if (list === undefined) {
    list = buildList(tenant);
    lists.set(tenant, list);
  }
  return list;
}

function buildList(tenant: Tenant): ModelList {
  const owner = tenant.metadata.name;
  const created = createdAt(tenant);
  const data: ModelObject[] = [];
  for (const [id, m] of modelTable(tenant)) {
    data.push(
      m.adapter
        ? { id, object: "model", created, owned_by: owner, parent: m.baseModel, root: m.baseModel }
        : { id, object: "model", created, owned_by: owner, root: id },
    );
  }
  data.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { object: "list", data };
}

function createdAt(tenant: Tenant): number {
  const ts = (tenant.metadata as { creationTimestamp?: unknown }).creationTimestamp;
  const ms = typeof ts === "string" || ts instanceof Date ? new Date(ts).getTime() : Number.NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}
