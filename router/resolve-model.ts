// The client's `model` → a base model or an adapter, resolved only inside the caller's tenant.
// Another tenant's adapter name is answered exactly like a name that does not exist (404), so
// adapter names cannot be probed across tenants. The engine-side lora_name comes from
// loraName(tenant, adapter, version) and never from anything the client sent.

import { ApiError, invalidRequest, modelNotFound } from "../core/errors.ts";
import type { ResolvedModel } from "../core/request-context.ts";
import { loraName } from "../core/storage-layout.ts";
import type { Tenant } from "../core/tenant.ts";

const MAX_ECHOED = 128;

// Built once per Tenant object; a changed Tenant is a new object, so a stale table is never
// used and the old one is garbage-collected with it.
const tables = new WeakMap<Tenant, ReadonlyMap<string, ResolvedModel>>();

/** Every name the tenant may put in `model`: base models, `adapter` (latest) and `adapter@version`. */
export function modelTable(tenant: Tenant): ReadonlyMap<string, ResolvedModel> {
  let table = tables.get(tenant);
  if (table === undefined) {
    table = buildTable(tenant);
    tables.set(tenant, table);
  }
  return table;
}

function buildTable(tenant: Tenant): ReadonlyMap<string, ResolvedModel> {
  const table = new Map<string, ResolvedModel>();
  for (const base of tenant.spec.models) {
    table.set(base, Object.freeze({ requested: base, baseModel: base }));
  }
  const latest = new Map<string, number>();
  for (const a of tenant.spec.adapters) {
    const pinned = `${a.name}@${a.version}`;
    const adapter = Object.freeze({
      name: a.name,
      version: a.version,
      source: a.source,
      ...(a.sha256 ? { sha256: a.sha256 } : {}),
      loraName: loraName(tenant.metadata.name, a.name, a.version),
    });
    table.set(pinned, Object.freeze({ requested: pinned, baseModel: a.baseModel, adapter }));
    if ((latest.get(a.name) ?? 0) < a.version) latest.set(a.name, a.version);
  }
  for (const [name, version] of latest) {
    const pinned = table.get(`${name}@${version}`)!;
    table.set(name, Object.freeze({ ...pinned, requested: name }));
  }
  return table;
}

/**
 * Resolves `model` for `tenant`. Throws 400 when it is not a non-empty string, 403 when it is a
 * base model served for other tenants (`knownBaseModels`, e.g. TenantStore.baseModels()) but not
 * allowed for this one, and 404 otherwise. The returned object is shared: do not mutate it.
 */
export function resolveModel(
  tenant: Tenant,
  model: unknown,
  knownBaseModels?: ReadonlySet<string>,
  /** The tenant's table with extras merged in (e.g. router/fine-tuned-models.ts). */
  table: ReadonlyMap<string, ResolvedModel> = modelTable(tenant),
): ResolvedModel {
  if (typeof model !== "string") {
    throw invalidRequest(
      model === undefined ? "you must provide a model parameter" : "'model' must be a string",
      "model",
    );
  }
  const found = table.get(model);
  if (found !== undefined) return found;
  if (model === "") throw invalidRequest("you must provide a model parameter", "model");
  const shown = model.length > MAX_ECHOED ? `${model.slice(0, MAX_ECHOED)}…` : model;
  if (knownBaseModels?.has(model)) {
    throw new ApiError(403, `The model '${shown}' is not allowed for this tenant.`, {
      code: "model_not_allowed",
      param: "model",
    });
  }
  throw modelNotFound(shown);
}
