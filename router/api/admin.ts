// The operator admin API, under /admin/v1, authenticated by the admin token alone
// (LORAPLEX_ADMIN_TOKEN). Tenant keys are never accepted here, and the admin token is never
// accepted as a tenant key (see authenticate.ts). Errors use the OpenAI shape like the rest.
//   POST   /admin/v1/keys {tenant, name?}  → 201 {id, key, tenant, name, created_at} (key shown once)
//   GET    /admin/v1/keys[?tenant=]        → {object: "list", data: [...]}; no hashes, no keys.
//                                            Lists rows of tenants that no longer exist too, so
//                                            their keys can still be found and revoked.
//   DELETE /admin/v1/keys/:id              → {id, object: "api_key", tenant, revoked: true, revoked_at}
//   GET    /admin/v1/tenants               → {object: "list", data: [{name, tier, ...}], problems}

import express, { type NextFunction, type Request, type Response } from "express";
import { z } from "zod";
import type { KeyStore } from "../../api-keys/api-keys.ts";
import { adminTokenMatcher } from "../../api-keys/secrets.ts";
import { ApiError, invalidAdminToken, invalidRequest, sendError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { isStorable } from "../../core/safe-text.ts";
import { TenantName } from "../../core/tenant.ts";
import type { TenantStore } from "../../tenants/tenant-store.ts";
import { bearerToken } from "../auth/authenticate.ts";

const CreateKey = z.strictObject({
  tenant: z.string().min(1).max(64),
  name: z.string().max(200).refine(isStorable, "must be valid Unicode without NUL").nullish(),
});

export type AdminDeps = {
  keys: KeyStore;
  tenants: TenantStore;
  adminToken: string;
  log?: Logger;
};

export function createAdminRouter(deps: AdminDeps): express.Router {
  const router = express.Router();
  const isAdmin = adminTokenMatcher(deps.adminToken);

  router.use("/admin", (req: Request, _res: Response, next: NextFunction) => {
    if (!isAdmin(bearerToken(req.headers.authorization))) throw invalidAdminToken();
    next();
  });
  router.use("/admin", express.json({ limit: "16kb" }));

  router.post("/admin/v1/keys", async (req: Request, res: Response) => {
    const parsed = CreateKey.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.join(".") || undefined;
      throw invalidRequest(`Invalid request: ${param ? `'${param}': ` : ""}${issue.message}`, param);
    }
    const { tenant, name } = parsed.data;
    requireTenant(deps.tenants, tenant);
    const created = await deps.keys.createKey(tenant, name ?? null);
    deps.log?.info({ tenant, keyId: created.id }, "API key created");
    res.status(201).json({ object: "api_key", ...created });
  });

  router.get("/admin/v1/keys", async (req: Request, res: Response) => {
    const tenant = req.query.tenant;
    if (tenant !== undefined && (typeof tenant !== "string" || !TenantName.safeParse(tenant).success)) {
      throw invalidRequest("'tenant' must be a tenant name", "tenant");
    }
    const keys = await deps.keys.listKeys(tenant);
    res.json({ object: "list", data: keys.map((k) => ({ object: "api_key", ...k })) });
  });

  router.delete("/admin/v1/keys/:id", async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const revoked = /^key_[0-9A-Za-z]{1,64}$/.test(id) ? await deps.keys.revokeKey(id) : null;
    if (!revoked) throw new ApiError(404, `No API key '${id.slice(0, 80)}'.`, { code: "key_not_found" });
    deps.log?.info({ tenant: revoked.tenant, keyId: id, announced: revoked.announced }, "API key revoked");
    res.json({
      id,
      object: "api_key",
      tenant: revoked.tenant,
      revoked: true,
      revoked_at: revoked.revoked_at,
    });
  });

  router.get("/admin/v1/tenants", (_req: Request, res: Response) => {
    res.json({
      object: "list",
      data: deps.tenants.list().map((t) => ({
        name: t.metadata.name,
        tier: t.spec.tier,
        models: t.spec.models,
        adapters: t.spec.adapters.map((a) => `${a.name}@${a.version}`),
      })),
      problems: deps.tenants.problems(),
    });
  });

  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError) return sendError(res, err);
    const e = err as { type?: string; status?: number };
    // body-parser's errors carry a status: malformed JSON 400, too large 413, bad charset 415.
    if (e.type === "entity.parse.failed")
      return sendError(res, invalidRequest("The body is not valid JSON."));
    if (e.type === "entity.too.large") return sendError(res, new ApiError(413, "The body is too large."));
    if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      return sendError(res, new ApiError(e.status, "The request could not be read."));
    }
    deps.log?.error({ err: (err as Error).message }, "admin API error");
    sendError(res, err);
  });

  return router;
}

function requireTenant(tenants: TenantStore, name: string): void {
  if (!tenants.get(name)) {
    throw new ApiError(404, `No tenant '${name.slice(0, 64)}'.`, {
      code: "tenant_not_found",
      param: "tenant",
    });
  }
}
