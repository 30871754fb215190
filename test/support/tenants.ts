// Tenant fixtures for the router-core tests, validated by the real schema.
import { parseTenant, type Tenant } from "../../core/tenant.ts";

const BASE = "llama-3.1-8b-instruct";

export function makeTenant(name: string, spec: Record<string, unknown> = {}): Tenant {
  const r = parseTenant({
    apiVersion: "loraplex.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: { models: [BASE], ...spec },
  });
  if (!r.ok) throw new Error(`fixture tenant '${name}' is invalid: ${r.error}`);
  return r.tenant;
}

export function adapter(tenant: string, name: string, version: number, baseModel = BASE) {
  return { name, baseModel, version, source: `s3://loraplex/tenants/${tenant}/adapters/${name}/${version}/` };
}

/** Like the samples: acme shares the pool, has support-bot v1 and v2, allows client system prompts. */
export const acmeLike = (name = "acme") =>
  makeTenant(name, {
    adapters: [adapter(name, "support-bot", 1), adapter(name, "support-bot", 2)],
    policy: {
      systemPrompt: "You are Acme's assistant.",
      allowClientSystemPrompt: true,
      maxOutputTokens: 512,
    },
  });

/** Like the samples: globex has support-bot v3 and refuses client system prompts. */
export const globexLike = (name = "globex") =>
  makeTenant(name, {
    models: [BASE, "mistral-7b-instruct"],
    adapters: [adapter(name, "support-bot", 3), adapter(name, "legal-bot", 1)],
    policy: {
      systemPrompt: "You are Globex's assistant.",
      allowClientSystemPrompt: false,
      maxOutputTokens: 1024,
    },
  });
