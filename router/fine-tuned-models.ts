// Adapters registered by fine-tunes (table fine_tuned_adapters, written by the trainer), merged
// into each tenant's model table so `fine_tuned_model` resolves and is listed like a declared
// adapter. The rows are re-read on a short interval; a request only does WeakMap and Map
// lookups. Rows are keyed by tenant, so one tenant's fine-tunes never enter another's table.
import type pg from "pg";
import type { Logger } from "../core/log.ts";
import type { ResolvedModel } from "../core/request-context.ts";
import { loraName } from "../core/storage-layout.ts";
import type { Tenant } from "../core/tenant.ts";
import { listModels, type ModelList, type ModelObject } from "./api/models.ts";
import { modelTable } from "./resolve-model.ts";

type Row = {
  tenant: string;
  name: string;
  adapter: string;
  base_model: string;
  source: string;
  version: number;
  sha256: string;
  created: number;
};
type View = { rows: Row[] | undefined; table: ReadonlyMap<string, ResolvedModel>; list: ModelList };

export type FineTunedModels = {
  table(tenant: Tenant): ReadonlyMap<string, ResolvedModel>;
  list(tenant: Tenant): ModelList;
  refresh(): Promise<void>;
  close(): void;
};

export async function startFineTunedModels(opts: {
  pool: pg.Pool;
  intervalMs: number;
  logger: Logger;
}): Promise<FineTunedModels> {
  let byTenant = new Map<string, Row[]>();
  let signature = "";
  // Per Tenant object; rebuilt when that tenant's rows changed (rows arrays are replaced, not mutated).
  const views = new WeakMap<Tenant, View>();

  async function refresh() {
    const { rows } = await opts.pool.query<Row>(
      `SELECT tenant, name, adapter, base_model, source, version, sha256,
              extract(epoch FROM created_at)::bigint::int AS created
       FROM fine_tuned_adapters ORDER BY tenant, name`,
    );
    const sig = rows.map((r) => `${r.tenant}\0${r.name}\0${r.sha256}`).join("\n");
    if (sig === signature) return;
    const next = new Map<string, Row[]>();
    for (const r of rows) {
      const list = next.get(r.tenant) ?? [];
      list.push(r);
      next.set(r.tenant, list);
    }
    // Keep unchanged tenants' arrays so their views stay valid.
    for (const [t, list] of next) {
      const old = byTenant.get(t);
      if (
        old &&
        old.length === list.length &&
        old.every((r, i) => r.name === list[i]!.name && r.sha256 === list[i]!.sha256)
      )
        next.set(t, old);
    }
    byTenant = next;
    signature = sig;
  }

  function view(tenant: Tenant): View {
    const rows = byTenant.get(tenant.metadata.name);
    let v = views.get(tenant);
    if (v === undefined || v.rows !== rows) {
      v = build(tenant, rows);
      views.set(tenant, v);
    }
    return v;
  }

  await refresh();
  const timer = setInterval(() => {
    refresh().catch((err: Error) =>
      opts.logger.warn({ err: err.message }, "cannot refresh fine-tuned models"),
    );
  }, opts.intervalMs);
  timer.unref();
  return {
    table: (t) => view(t).table,
    list: (t) => view(t).list,
    refresh,
    close: () => clearInterval(timer),
  };
}

function build(tenant: Tenant, rows: Row[] | undefined): View {
  const base = modelTable(tenant);
  const list = listModels(tenant);
  if (!rows?.length) return { rows, table: base, list };
  const table = new Map(base);
  const data: ModelObject[] = [...list.data];
  const owner = tenant.metadata.name;
  const allowed = new Set(tenant.spec.models);
  for (const r of rows) {
    // A fine-tune of a base model the tenant may no longer use is not served.
    if (!allowed.has(r.base_model) || table.has(r.name)) continue;
    const adapter = Object.freeze({
      name: r.adapter,
      version: r.version,
      source: r.source,
      sha256: r.sha256,
      loraName: loraName(owner, r.adapter, r.version),
    });
    table.set(r.name, Object.freeze({ requested: r.name, baseModel: r.base_model, adapter }));
    data.push({
      id: r.name,
      object: "model",
      created: r.created,
      owned_by: owner,
      parent: r.base_model,
      root: r.base_model,
    });
  }
  data.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { rows, table, list: { object: "list", data } };
}
