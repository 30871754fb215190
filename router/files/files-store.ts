// Files of the OpenAI-compatible files API: bytes in S3 at fileKey(tenant, id), metadata in
// Postgres. Every call takes the tenant; reads run under row-level security (withTenant), so
// another tenant's id looks exactly like an id that does not exist. Bytes stream both ways: an
// upload goes to S3 as a multipart upload of PART_BYTES parts, at most UPLOAD_QUEUE of them in
// flight, so one upload holds about (UPLOAD_QUEUE + 1) × PART_BYTES of memory whatever its size.
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
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

/** S3's smallest part (5 MiB): a file below it is stored with one PutObject. */
const PART_BYTES = 5 * 1024 * 1024;
const UPLOAD_QUEUE = 2;

export type FilesStore = {
  newId(): string;
  /**
   * Streams `body` to the object of file `id`. When `body` errors, nothing is kept: the multipart
   * upload is aborted (its parts deleted) before this rejects.
   */
  putContent(tenant: string, id: string, body: Readable): Promise<void>;
  /** Records a file whose content putContent stored; deletes the object if the row cannot be written. */
  register(
    tenant: string,
    file: { id: string; filename: string; purpose: string; bytes: number },
  ): Promise<FileObject>;
  list(
    tenant: string,
    q: { purpose?: string; limit: number; after?: string; order: "asc" | "desc" },
  ): Promise<{ data: FileObject[]; has_more: boolean }>;
  get(tenant: string, id: string): Promise<FileObject | undefined>;
  content(tenant: string, id: string): Promise<Readable | undefined>;
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
    newId: newFileId,
    async putContent(tenant, id, body) {
      const params = {
        Bucket: bucket,
        Key: fileKey(tenant, id),
        Body: body,
        ContentType: "application/jsonl",
      };
      await new Upload({ client: s3, params, partSize: PART_BYTES, queueSize: UPLOAD_QUEUE }).done();
    },
    async register(tenant, file) {
      try {
        const { rows } = await pool.query<Row>(
          `INSERT INTO files (id, tenant, filename, purpose, bytes) VALUES ($1, $2, $3, $4, $5)
           RETURNING ${COLUMNS}`,
          [file.id, tenant, file.filename, file.purpose, file.bytes],
        );
        return toObject(rows[0]!);
      } catch (err) {
        // No row points at the object: it must not stay behind, unbilled and unlisted.
        await s3
          .send(new DeleteObjectCommand({ Bucket: bucket, Key: fileKey(tenant, file.id) }))
          .catch(() => {});
        throw err;
      }
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
      return out.Body as Readable;
    },
    async remove(tenant, id) {
      const { rowCount } = await pool.query("DELETE FROM files WHERE tenant = $1 AND id = $2", [tenant, id]);
      if (!rowCount) return false;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: fileKey(tenant, id) }));
      return true;
    },
  };
}
