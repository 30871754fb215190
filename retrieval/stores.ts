// Vector stores: create, read, list, update, delete, per tenant. Reads run under row-level
// security (withTenant) with an explicit tenant filter as well; writes name the tenant in every
// WHERE, so another tenant's id changes nothing and reads as "not found".
import type pg from "pg";
import { withTenant } from "../metering/tenant-db.ts";
import { newVectorStoreId } from "./ids.ts";
import { COUNTS_SQL, type StoreRow, toStore, type VectorStoreObject } from "./objects.ts";
import { recordStoredBytes } from "./stored-bytes.ts";

export type ListQuery = { limit: number; order: "asc" | "desc"; after?: string; before?: string };
export type Page<T> = { data: T[]; has_more: boolean };

const SELECT_STORE = `SELECT s.id, s.name, s.description, s.metadata, s.expires_after, s.last_active_at,
    s.created_at, c.*
  FROM vector_stores s
  LEFT JOIN LATERAL (SELECT ${COUNTS_SQL} FROM vector_store_files f WHERE f.vector_store_id = s.id) c ON true`;

/** Keyset pagination on `seq` of `table` by the cursor ids `after` / `before` (same tenant). */
export function pageWhere(
  table: string,
  idColumn: string,
  q: ListQuery,
  params: unknown[],
  alias: string,
): { where: string; order: string } {
  const parts: string[] = [];
  const cursor = (id: string, forward: boolean) => {
    params.push(id);
    const op = (q.order === "desc") === forward ? "<" : ">";
    parts.push(
      `${alias}.seq ${op} coalesce((SELECT seq FROM ${table} WHERE tenant = $1 AND ${idColumn} = $${params.length} LIMIT 1), ${op === "<" ? "0" : "9223372036854775807"})`,
    );
  };
  if (q.after !== undefined) cursor(q.after, true);
  if (q.before !== undefined) cursor(q.before, false);
  return { where: parts.join(" AND "), order: `${alias}.seq ${q.order === "asc" ? "ASC" : "DESC"}` };
}

export function createVectorStores(pool: pg.Pool) {
  const get = (tenant: string, id: string) =>
    withTenant(pool, tenant, async (c) => {
      const { rows } = await c.query<StoreRow>(`${SELECT_STORE} WHERE s.tenant = $1 AND s.id = $2`, [
        tenant,
        id,
      ]);
      return rows[0] ? toStore(rows[0]) : undefined;
    });

  return {
    get,

    async create(
      tenant: string,
      s: { name?: string; description?: string; metadata?: Record<string, string>; expiresAfter?: unknown },
    ): Promise<VectorStoreObject> {
      const id = newVectorStoreId();
      await pool.query(
        `INSERT INTO vector_stores (id, tenant, name, description, metadata, expires_after)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, tenant, s.name ?? null, s.description ?? null, s.metadata ?? {}, s.expiresAfter ?? null],
      );
      return (await get(tenant, id))!;
    },

    list(tenant: string, q: ListQuery): Promise<Page<VectorStoreObject>> {
      return withTenant(pool, tenant, async (c) => {
        const params: unknown[] = [tenant];
        const p = pageWhere("vector_stores", "id", q, params, "s");
        params.push(q.limit + 1);
        const { rows } = await c.query<StoreRow>(
          `${SELECT_STORE} WHERE s.tenant = $1 ${p.where ? `AND ${p.where}` : ""}
           ORDER BY ${p.order} LIMIT $${params.length}`,
          params,
        );
        return { data: rows.slice(0, q.limit).map((r) => toStore(r)), has_more: rows.length > q.limit };
      });
    },

    /** Fields given as null are cleared; absent ones are kept. Undefined: not found. */
    async update(
      tenant: string,
      id: string,
      patch: { name?: string | null; metadata?: Record<string, string> | null; expiresAfter?: unknown },
    ): Promise<VectorStoreObject | undefined> {
      const sets: string[] = [];
      const params: unknown[] = [tenant, id];
      const set = (column: string, v: unknown) => {
        params.push(v);
        sets.push(`${column} = $${params.length}`);
      };
      if (patch.name !== undefined) set("name", patch.name);
      if (patch.metadata !== undefined) set("metadata", patch.metadata ?? {});
      if (patch.expiresAfter !== undefined) set("expires_after", patch.expiresAfter);
      const { rowCount } = await pool.query(
        `UPDATE vector_stores SET ${[...sets, "last_active_at = now()"].join(", ")} WHERE tenant = $1 AND id = $2`,
        params,
      );
      return rowCount ? get(tenant, id) : undefined;
    },

    /** Removes the store with its files and chunks (ON DELETE CASCADE). */
    async remove(tenant: string, id: string): Promise<boolean> {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const { rowCount } = await client.query("DELETE FROM vector_stores WHERE tenant = $1 AND id = $2", [
          tenant,
          id,
        ]);
        if (rowCount) await recordStoredBytes(client, tenant);
        await client.query("COMMIT");
        return Boolean(rowCount);
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },

    /** A search keeps the store alive (expires_after counts from the last activity). */
    async touch(tenant: string, ids: string[]): Promise<void> {
      await pool.query("UPDATE vector_stores SET last_active_at = now() WHERE tenant = $1 AND id = ANY($2)", [
        tenant,
        ids,
      ]);
    },
  };
}
export type VectorStores = ReturnType<typeof createVectorStores>;
