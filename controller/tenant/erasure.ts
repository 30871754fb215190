// Erasure of a deleted Tenant's data: its S3 prefix, its Postgres rows, its dedicated namespace
// and its adapters cached on the shared engines. The Tenant's finalizer is removed only once all
// four are done, so a failure keeps the Tenant (and the record that erasure is owed) until a retry
// succeeds.

import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { tenantNamespace } from "../../core/cluster-layout.ts";
import { tenantPrefix } from "../../core/storage-layout.ts";
import type { KubeClient } from "../../kube/client.ts";
import { R } from "../../kube/types.ts";
import { purgeSharedAdapters } from "./adapter-purge.ts";
import type { TenantEraser } from "./eraser.ts";
import { isTenantNamespace } from "./namespace.ts";

/** Deletes a tenant's rows in every table that holds tenant data; returns rows deleted per table. */
export type EraseTenantRows = (tenant: string) => Promise<Record<string, number>>;

const DELETE_BATCH = 1000; // the most DeleteObjects accepts in one call

export function createTenantEraser(deps: {
  client: KubeClient;
  systemNamespace: string;
  s3: S3Client;
  eraseTenantRows: EraseTenantRows;
}): TenantEraser {
  return {
    async deleteNamespace(tenant) {
      const name = tenantNamespace(tenant);
      const ns = await deps.client.get(R.namespaces, name);
      // A namespace of that name that we did not create for this tenant is not ours to delete.
      if (!ns || !isTenantNamespace(ns, tenant)) return "gone";
      if (!ns.metadata.deletionTimestamp) await deps.client.delete(R.namespaces, name);
      return "pending";
    },

    async deleteObjects(tenant, bucket) {
      const prefix = tenantPrefix(tenant);
      let deleted = 0;
      let token: string | undefined;
      do {
        const page = await deps.s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: DELETE_BATCH,
          }),
        );
        const keys = (page.Contents ?? [])
          .map((o) => o.Key)
          .filter((k): k is string => !!k && k.startsWith(prefix));
        if (keys.length > 0) {
          const res = await deps.s3.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
            }),
          );
          if (res.Errors && res.Errors.length > 0) {
            const e = res.Errors[0]!;
            throw new Error(
              `S3 refused to delete ${res.Errors.length} object(s), e.g. ${e.Key}: ${e.Code} ${e.Message}`,
            );
          }
          deleted += keys.length;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return { bucket, prefix, deleted };
    },

    purgeAdapters: (tenant) => purgeSharedAdapters(deps, tenant),

    deleteRows: (tenant) => deps.eraseTenantRows(tenant),
  };
}
