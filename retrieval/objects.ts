// Rows → the objects of OpenAI's vector store API, exactly as the `openai` SDK types them.
import type { ChunkingStrategy } from "./chunking.ts";

export type FileCounts = {
  in_progress: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
};

export type VectorStoreObject = {
  id: string;
  object: "vector_store";
  created_at: number;
  name: string | null;
  description: string | null;
  usage_bytes: number;
  file_counts: FileCounts;
  status: "expired" | "in_progress" | "completed";
  expires_after: { anchor: "last_active_at"; days: number } | null;
  expires_at: number | null;
  last_active_at: number;
  metadata: Record<string, string>;
};

export type FileStatus = "in_progress" | "completed" | "failed" | "cancelled";
export type LastError = { code: "server_error" | "unsupported_file" | "invalid_file"; message: string };

export type VectorStoreFileObject = {
  id: string;
  object: "vector_store.file";
  usage_bytes: number;
  created_at: number;
  vector_store_id: string;
  status: FileStatus;
  last_error: LastError | null;
  chunking_strategy: ChunkingStrategy;
  attributes: Record<string, string | number | boolean>;
};

export type FileBatchObject = {
  id: string;
  object: "vector_store.files_batch";
  created_at: number;
  vector_store_id: string;
  status: "in_progress" | "completed" | "cancelled" | "failed";
  file_counts: FileCounts;
};

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

/** SQL for the file counts and bytes of the files matching `where` (f is vector_store_files). */
export const COUNTS_SQL = `count(*) FILTER (WHERE f.status = 'in_progress') AS in_progress,
  count(*) FILTER (WHERE f.status = 'completed') AS completed,
  count(*) FILTER (WHERE f.status = 'failed') AS failed,
  count(*) FILTER (WHERE f.status = 'cancelled') AS cancelled,
  count(*) AS total, coalesce(sum(f.usage_bytes), 0) AS bytes`;

export type CountsRow = {
  in_progress: string;
  completed: string;
  failed: string;
  cancelled: string;
  total: string;
  bytes: string;
};

const toCounts = (r: CountsRow): FileCounts => ({
  in_progress: Number(r.in_progress ?? 0),
  completed: Number(r.completed ?? 0),
  failed: Number(r.failed ?? 0),
  cancelled: Number(r.cancelled ?? 0),
  total: Number(r.total ?? 0),
});

export type StoreRow = CountsRow & {
  id: string;
  name: string | null;
  description: string | null;
  metadata: Record<string, string>;
  expires_after: { anchor: "last_active_at"; days: number } | null;
  last_active_at: Date;
  created_at: Date;
};

export function toStore(r: StoreRow, now = Date.now()): VectorStoreObject {
  const counts = toCounts(r);
  const expiresAt = r.expires_after
    ? r.last_active_at.getTime() + r.expires_after.days * 86_400_000
    : undefined;
  const status =
    expiresAt !== undefined && expiresAt <= now
      ? "expired"
      : counts.in_progress > 0
        ? "in_progress"
        : "completed";
  return {
    id: r.id,
    object: "vector_store",
    created_at: unix(r.created_at),
    name: r.name,
    description: r.description,
    usage_bytes: Number(r.bytes ?? 0),
    file_counts: counts,
    status,
    expires_after: r.expires_after,
    expires_at: expiresAt === undefined ? null : Math.floor(expiresAt / 1000),
    last_active_at: unix(r.last_active_at),
    metadata: r.metadata,
  };
}

export type FileRow = {
  vector_store_id: string;
  file_id: string;
  status: FileStatus;
  last_error: LastError | null;
  attributes: Record<string, string | number | boolean>;
  chunking_strategy: ChunkingStrategy;
  usage_bytes: string;
  created_at: Date;
};

export const FILE_COLUMNS =
  "f.vector_store_id, f.file_id, f.status, f.last_error, f.attributes, f.chunking_strategy, f.usage_bytes, f.created_at";

export const toFile = (r: FileRow): VectorStoreFileObject => ({
  id: r.file_id,
  object: "vector_store.file",
  usage_bytes: Number(r.usage_bytes),
  created_at: unix(r.created_at),
  vector_store_id: r.vector_store_id,
  status: r.status,
  last_error: r.last_error,
  chunking_strategy: r.chunking_strategy,
  attributes: r.attributes,
});

export type BatchRow = CountsRow & {
  id: string;
  vector_store_id: string;
  batch_cancelled: boolean;
  created_at: Date;
};

export function toBatch(r: BatchRow): FileBatchObject {
  const counts = toCounts(r);
  return {
    id: r.id,
    object: "vector_store.files_batch",
    created_at: unix(r.created_at),
    vector_store_id: r.vector_store_id,
    status: r.batch_cancelled ? "cancelled" : counts.in_progress > 0 ? "in_progress" : "completed",
    file_counts: counts,
  };
}
