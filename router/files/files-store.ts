// Files of the OpenAI-compatible files API: bytes in S3 at fileKey(tenant, id), metadata in
// Postgres. Every call takes the tenant; reads run under row-level security (withTenant), so
// another tenant's id looks exactly like an id that does not exist.
import { randomBytes } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type pg from "pg";
import { fileKey } from "../../core/storage-layout.ts";
import { withTenant } from "../../metering/tenant-db.ts";

export type FileObject = {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: "processed";
  status_details: null;
};

export type FilesStore = {
  create(tenant: string, file: { filename: string; purpose: string; content: Buffer }): Promise<FileObject>;
  list(
    tenant: string,
    q: { purpose?: string; limit: number; after?: string; order: "asc" | "desc" },
  ): Promise<{ data: FileObject[]; has_more: boolean }>;
  get(tenant: string, id: string): Promise<FileObject | undefined>;
  content(tenant: string, id: string): Promise<Buffer | undefined>;
  remove(tenant: string, id: string): Promise<boolean>;
};

type Row = { id: string; filename: string; purpose: string; bytes: string; created_at: Date };

const toObject = (r: Row): FileObject => ({
  id: r.id,
  object: "file",
  bytes: Number(r.bytes),
  created_at: Math.floor(r.created_at.getTime() / 1000),
  filename: r.filename,
  purpose: r.purpose,
  status: "processed",
  status_details: null,
});

const COLUMNS = "id, filename, purpose, bytes, created_at";

function newFileId(): string {
  return `file-${randomBytes(12).toString("hex")}`;
}

export function createFilesStore(deps: { pool: pg.Pool; s3: S3Client; bucket: string }): FilesStore {
  const { pool, s3, bucket } = deps;
  const get = (tenant: string, id: string) =>
    withTenant(pool, tenant, async (c) => {
      const { rows } = await c.query<Row>(`SELECT ${COLUMNS} FROM files WHERE tenant = $1 AND id = $2`, [
        tenant,
        id,
      ]);
      return rows[0] ? toObject(rows[0]) : undefined;
    });
  return {
    async create(tenant, file) {
      const id = newFileId();
      // Object first: a row never points at bytes that are not there.
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: fileKey(tenant, id),
          Body: file.content,
          ContentType: "application/jsonl",
        }),
      );
      const { rows } = await pool.query<Row>(
        `INSERT INTO files (id, tenant, filename, purpose, bytes) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${COLUMNS}`,
        [id, tenant, file.filename, file.purpose, file.content.length],
      );
      return toObject(rows[0]!);
    },
    list(tenant, q) {
      return withTenant(pool, tenant, async (c) => {
        const params: unknown[] = [tenant, q.limit + 1];
        let where = "tenant = $1";
        if (q.purpose !== undefined) {
          params.push(q.purpose);
          where += ` AND purpose = $${params.length}`;
        }
        if (q.after !== undefined) {
          params.push(q.after);
          const op = q.order === "asc" ? ">" : "<";
          where += ` AND seq ${op} (SELECT seq FROM files WHERE tenant = $1 AND id = $${params.length})`;
        }
        const dir = q.order === "asc" ? "ASC" : "DESC";
        const { rows } = await c.query<Row>(
          `SELECT ${COLUMNS} FROM files WHERE ${where} ORDER BY seq ${dir} LIMIT $2`,
          params,
        );
        return { data: rows.slice(0, q.limit).map(toObject), has_more: rows.length > q.limit };
      });
    },
    get,
    async content(tenant, id) {
      if (!(await get(tenant, id))) return undefined;
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: fileKey(tenant, id) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async remove(tenant, id) {
      const { rowCount } = await pool.query("DELETE FROM files WHERE tenant = $1 AND id = $2", [tenant, id]);
      if (!rowCount) return false;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: fileKey(tenant, id) }));
      return true;
    },
  };
}
