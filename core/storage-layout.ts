// Where each tenant's data lives in object storage, and the rule that names a tenant's adapter
// inside an engine. Every component derives these here so the rules cannot drift apart.
import { createHash } from "node:crypto";

export function tenantPrefix(tenant: string): string {
  return `tenants/${tenant}/`;
}
export function adapterPrefix(tenant: string, adapter: string, version: number): string {
  return `tenants/${tenant}/adapters/${adapter}/${version}/`;
}
export function fileKey(tenant: string, fileId: string): string {
  return `tenants/${tenant}/files/${fileId}`;
}

/**
 * The lora_name an engine knows a tenant's adapter by. Derived only from the resolved tenant,
 * adapter and version (never from client input); the hash suffix keeps names unambiguous even
 * though tenant and adapter names may both contain '-'.
 */
export function loraName(tenant: string, adapter: string, version: number): string {
  const tag = createHash("sha256").update(`${tenant}\0${adapter}\0${version}`).digest("hex").slice(0, 8);
  return `${tenant}--${adapter}--v${version}--${tag}`;
}

/**
 * Checks that an s3:// URI points inside `tenants/<tenant>/adapters/` of the expected bucket
 * (of any bucket when `bucket` is undefined: the Tenant schema checks a spec without knowing
 * the deployment's default bucket; the controller and the agent check it again with it).
 * Returns the object-key prefix on success, or a reason on failure. Rejects '..', '.', empty
 * segments, backslashes and percent-escapes so no spelling can climb into another tenant.
 */
export function checkAdapterSource(
  uri: string,
  tenant: string,
  bucket: string | undefined,
): { ok: true; prefix: string } | { ok: false; reason: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) return { ok: false, reason: "source must look like s3://<bucket>/tenants/<tenant>/adapters/..." };
  const [, gotBucket, key] = m as unknown as [string, string, string];
  if (bucket !== undefined && gotBucket !== bucket) {
    return { ok: false, reason: `source bucket '${gotBucket}' is not '${bucket}'` };
  }
  if (
    /[\\%]/.test(key) ||
    key.split("/").some((seg, i, all) => seg === ".." || seg === "." || (seg === "" && i < all.length - 1))
  ) {
    return { ok: false, reason: "source path must not contain '.', '..', empty segments, '\\' or '%'" };
  }
  const want = `${tenantPrefix(tenant)}adapters/`;
  if (!key.startsWith(want) || key.length === want.length) {
    return { ok: false, reason: `source must lie under s3://${gotBucket}/${want}` };
  }
  return { ok: true, prefix: key.endsWith("/") ? key : `${key}/` };
}
