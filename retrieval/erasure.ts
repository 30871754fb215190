// Erasure of a tenant's retrieval data, inside the caller's transaction (metering/erasure.ts,
// run by the controller's Tenant finalizer): vector stores, their files, batches and chunks, and
// the daily stored-bytes rows. The files' bytes in S3 go with the tenant's prefix. Ingestion
// tasks still queued find no file row afterwards and do nothing (retrieval/ingest.ts).
import type pg from "pg";

export type RetrievalErasureCounts = {
  vectorStores: number;
  vectorStoreFiles: number;
  vectorStoreChunks: number;
};

export async function eraseRetrievalData(c: pg.PoolClient, tenant: string): Promise<RetrievalErasureCounts> {
  const del = async (table: string) =>
    (await c.query(`DELETE FROM ${table} WHERE tenant = $1`, [tenant])).rowCount ?? 0;
  // Children first so each count is what this tenant had (the cascades would hide them).
  const vectorStoreChunks = await del("vector_store_chunks");
  const vectorStoreFiles = await del("vector_store_files");
  await del("vector_store_file_batches");
  const vectorStores = await del("vector_stores");
  await del("vector_store_bytes_daily");
  return { vectorStores, vectorStoreFiles, vectorStoreChunks };
}
