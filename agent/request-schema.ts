// Validation of the agent's request bodies and path parameters. Strict: a client cannot slip
// in a lora_name or a path — the agent derives both itself.
import { z } from "zod";
import type { LoadRequest } from "../agent-api/types.ts";
import { AdapterRef, TenantName } from "../core/tenant.ts";
import { AgentFailure } from "./errors.ts";

const LoadBody = z
  .object({
    tenant: TenantName,
    adapter: AdapterRef.shape.name,
    version: AdapterRef.shape.version,
    source: z.string().min(1).max(1024),
    sha256: AdapterRef.shape.sha256,
  })
  .strict();

const LORA_NAME = /^[a-z0-9-]{1,160}$/;

export function parseLoadRequest(body: unknown): LoadRequest {
  const r = LoadBody.safeParse(body);
  if (!r.success) {
    const problems = r.error.issues
      .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
      .join("; ");
    throw new AgentFailure(400, "invalid_request", `invalid load request: ${problems}`);
  }
  return r.data;
}

export function parseTenantParam(raw: string): string {
  const tenant = decodeOrFail(raw);
  if (!TenantName.safeParse(tenant).success) {
    throw new AgentFailure(400, "invalid_request", `'${tenant}' is not a tenant name`);
  }
  return tenant;
}

export function parseLoraNameParam(raw: string): string {
  const name = decodeOrFail(raw);
  if (!LORA_NAME.test(name)) throw new AgentFailure(404, "not_found", `no adapter '${name}' on this agent`);
  return name;
}

function decodeOrFail(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new AgentFailure(400, "invalid_request", "malformed percent-encoding in the path");
  }
}
