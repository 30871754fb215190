// Files attached to vector stores, and file batches. Attaching checks, for the same tenant, that
// the store exists and that the file exists with purpose "assistants"; the ingestion worker
// (ingest.ts) then moves each file from in_progress to completed or failed.
import type pg from "pg";
import { ApiError } from "../core/errors.ts";
import { withTenant } from "../metering/tenant-db.ts";
import type { ChunkingStrategy } from "./chunking.ts";
import { newFileBatchId } from "./ids.ts";
import {
  type BatchRow,
  COUNTS_SQL,
  FILE_COLUMNS,
  type FileBatchObject,
  type FileRow,
  type FileStatus,
  toBatch,
  toFile,
  type VectorStoreFileObject,
} from "./objects.ts";
import type { Attributes } from "./schemas.ts";
import { recordStoredBytes } from "./stored-bytes.ts";
import { type ListQuery, type Page, pageWhere } from "./stores.ts";

export type Attach = { fileId: string; attributes: Attributes; chunking: ChunkingStrategy };

const ATTACHABLE_PURPOSE = "assistants";

export const vectorStoreNotFound = (id: string) =>
  new ApiError(404, `No vector store found with id '${id}'.`, {
    code: "vector_store_not_found",
    param: "vector_store_id",
  });

async function tx<T>(pool: pg.Pool, run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    const out = await run(c);
    await c.query("COMMIT");
    return out;
  } catch (e) {
    await c.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

export function createStoreFiles(pool: pg.Pool) {
  /** Inside a transaction: locks the store row; false when the tenant has no such store. */
  const lockStore = async (c: pg.PoolClient, tenant: string, vs: string) =>
    ((await c.query("SELECT 1 FROM vector_stores WHERE tenant = $1 AND id = $2 FOR UPDATE", [tenant, vs]))
      .rowCount ?? 0) > 0;

  /** Files that do not exist for this tenant, or are not meant for retrieval: the 400 names them. */
  const checkFiles = async (c: pg.PoolClient, tenant: string, ids: string[]) => {
    const { rows } = await c.query<{ id: string }>(
      "SELECT id FROM files WHERE tenant = $1 AND id = ANY($2) AND purpose = $3",
      [tenant, ids, ATTACHABLE_PURPOSE],
    );
    const found = new Set(rows.map((r) => r.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new ApiError(404, `No file with purpose '${ATTACHABLE_PURPOSE}' found with id '${missing[0]}'.`, {
        code: "file_not_found",
        param: "file_id",
      });
    }
  };

  const attachIn = async (
    c: pg.PoolClient,
    tenant: string,
    vs: string,
    files: Attach[],
    batchId: string | null,
  ) => {
    await checkFiles(c, tenant, [...new Set(files.map((f) => f.fileId))]);
    const out: VectorStoreFileObject[] = [];
    for (const f of files) {
      // Attaching a file again re-ingests it with the new attributes and chunking.
      await c.query("DELETE FROM vector_store_chunks WHERE vector_store_id = $1 AND file_id = $2", [
        vs,
        f.fileId,
      ]);
      const { rows } = await c.query<FileRow>(
        `INSERT INTO vector_store_files AS f (vector_store_id, file_id, tenant, attributes, chunking_strategy, batch_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (vector_store_id, file_id) DO UPDATE
           SET status = 'in_progress', last_error = NULL, attributes = EXCLUDED.attributes,
               chunking_strategy = EXCLUDED.chunking_strategy, batch_id = EXCLUDED.batch_id,
               usage_bytes = 0, chunk_count = 0
         RETURNING ${FILE_COLUMNS}`,
        [vs, f.fileId, tenant, f.attributes, f.chunking, batchId],
      );
      out.push(toFile(rows[0]!));
    }
    await c.query("UPDATE vector_stores SET last_active_at = now() WHERE id = $1", [vs]);
    return out;
  };

  const getBatch = (tenant: string, vs: string, id: string) =>
    withTenant(pool, tenant, async (c) => {
      const { rows } = await c.query<BatchRow>(
        `SELECT b.id, b.vector_store_id, b.cancelled AS batch_cancelled, b.created_at, c.*
         FROM vector_store_file_batches b
         LEFT JOIN LATERAL (SELECT ${COUNTS_SQL} FROM vector_store_files f WHERE f.batch_id = b.id) c ON true
         WHERE b.tenant = $1 AND b.vector_store_id = $2 AND b.id = $3`,
        [tenant, vs, id],
      );
      return rows[0] ? toBatch(rows[0]) : undefined;
    });

  return {
    /** Undefined: no such store for this tenant. */
    attach(tenant: string, vs: string, files: Attach[]): Promise<VectorStoreFileObject[] | undefined> {
      return tx(pool, async (c) =>
        (await lockStore(c, tenant, vs)) ? attachIn(c, tenant, vs, files, null) : undefined,
      );
    },

    async createBatch(tenant: string, vs: string, files: Attach[]): Promise<FileBatchObject | undefined> {
      const id = newFileBatchId();
      const ok = await tx(pool, async (c) => {
        if (!(await lockStore(c, tenant, vs))) return false;
        await c.query(
          "INSERT INTO vector_store_file_batches (id, tenant, vector_store_id) VALUES ($1, $2, $3)",
          [id, tenant, vs],
        );
        await attachIn(c, tenant, vs, files, id);
        return true;
      });
      return ok ? getBatch(tenant, vs, id) : undefined;
    },

    getBatch,

    /** Files of the batch still in progress become cancelled; the worker skips them. */
    async cancelBatch(tenant: string, vs: string, id: string): Promise<FileBatchObject | undefined> {
      const found = await tx(pool, async (c) => {
        const { rowCount } = await c.query(
          "UPDATE vector_store_file_batches SET cancelled = true WHERE tenant = $1 AND vector_store_id = $2 AND id = $3",
          [tenant, vs, id],
        );
        if (!rowCount) return false;
        await c.query(
          "UPDATE vector_store_files SET status = 'cancelled' WHERE tenant = $1 AND batch_id = $2 AND status = 'in_progress'",
          [tenant, id],
        );
        return true;
      });
      return found ? getBatch(tenant, vs, id) : undefined;
    },

    get(tenant: string, vs: string, fileId: string): Promise<VectorStoreFileObject | undefined> {
      return withTenant(pool, tenant, async (c) => {
        const { rows } = await c.query<FileRow>(
          `SELECT ${FILE_COLUMNS} FROM vector_store_files f WHERE f.tenant = $1 AND f.vector_store_id = $2 AND f.file_id = $3`,
          [tenant, vs, fileId],
        );
        return rows[0] ? toFile(rows[0]) : undefined;
      });
    },

    /** Undefined: no such store (a batch id that is not the store's lists nothing). */
    list(
      tenant: string,
      vs: string,
      q: ListQuery & { status?: FileStatus; batchId?: string },
    ): Promise<Page<VectorStoreFileObject> | undefined> {
      return withTenant(pool, tenant, async (c) => {
        const store = await c.query("SELECT 1 FROM vector_stores WHERE tenant = $1 AND id = $2", [
          tenant,
          vs,
        ]);
        if (!store.rowCount) return undefined;
        const params: unknown[] = [tenant, vs];
        const where = ["f.tenant = $1", "f.vector_store_id = $2"];
        if (q.status) {
          params.push(q.status);
          where.push(`f.status = $${params.length}`);
        }
        if (q.batchId) {
          params.push(q.batchId);
          where.push(`f.batch_id = $${params.length}`);
        }
        // Cursors are file ids, unique within the store.
        const p = pageWhere("vector_store_files", "vector_store_id = $2 AND file_id", q, params, "f");
        if (p.where) where.push(p.where);
        params.push(q.limit + 1);
        const { rows } = await c.query<FileRow>(
          `SELECT ${FILE_COLUMNS} FROM vector_store_files f WHERE ${where.join(" AND ")}
           ORDER BY ${p.order} LIMIT $${params.length}`,
          params,
        );
        return { data: rows.slice(0, q.limit).map(toFile), has_more: rows.length > q.limit };
      });
    },

    async updateAttributes(
      tenant: string,
      vs: string,
      fileId: string,
      attributes: Attributes,
    ): Promise<VectorStoreFileObject | undefined> {
      const { rows } = await pool.query<FileRow>(
        `UPDATE vector_store_files f SET attributes = $4 WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3
         RETURNING ${FILE_COLUMNS}`,
        [tenant, vs, fileId, attributes],
      );
      return rows[0] ? toFile(rows[0]) : undefined;
    },

    /** Detaches the file (its chunks go with it); the file itself stays in the files API. */
    remove(tenant: string, vs: string, fileId: string): Promise<boolean> {
      return tx(pool, async (c) => {
        const { rowCount } = await c.query(
          "DELETE FROM vector_store_files WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3",
          [tenant, vs, fileId],
        );
        if (rowCount) await recordStoredBytes(c, tenant);
        return Boolean(rowCount);
      });
    },

    /** The parsed text of the file's chunks, in order; undefined when the file is not attached. */
    content(tenant: string, vs: string, fileId: string): Promise<string[] | undefined> {
      return withTenant(pool, tenant, async (c) => {
        const f = await c.query(
          "SELECT 1 FROM vector_store_files WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3",
          [tenant, vs, fileId],
        );
        if (!f.rowCount) return undefined;
        const { rows } = await c.query<{ content: string }>(
          `SELECT content FROM vector_store_chunks WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3
           ORDER BY chunk_index`,
          [tenant, vs, fileId],
        );
        return rows.map((r) => r.content);
      });
    },
  };
}
export type StoreFiles = ReturnType<typeof createStoreFiles>;
