// The audit row of a request: who asked for what, under which policy, and what was decided.
// What it keeps of the conversation follows tenant.spec.audit.mode: `full` keeps prompt and
// response, `hashes` keeps only their SHA-256 (enough to prove what was said, not to read it),
// `none` keeps neither. The router puts the texts on the request context (ctx.audit).
import { createHash } from "node:crypto";
import type { RequestContext } from "../core/request-context.ts";
import type { Tenant } from "../core/tenant.ts";

/**
 * What the audit row adds to the usage event it travels with in the spool; the writer takes
 * the rest (request id, time, key, end user, model and adapter version, decision) from the event.
 */
export type AuditContent = {
  policyHash: string;
  mode: "full" | "hashes" | "none";
  prompt: string | null;
  response: string | null;
  promptSha256: string | null;
  responseSha256: string | null;
};

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const policyHashes = new WeakMap<Tenant, string>();

/** Hash of the policy the router enforced; changes whenever the system prompt or its rules change. */
export function policyHash(tenant: Tenant): string {
  let h = policyHashes.get(tenant);
  if (!h) {
    const p = tenant.spec.policy;
    h = sha256(
      JSON.stringify({
        systemPrompt: p.systemPrompt ?? null,
        allowClientSystemPrompt: p.allowClientSystemPrompt,
        maxOutputTokens: p.maxOutputTokens ?? null,
      }),
    );
    policyHashes.set(tenant, h);
  }
  return h;
}

const MAX_FULL_TEXT = 1_000_000;

export function buildAuditContent(ctx: RequestContext): AuditContent {
  const mode = ctx.tenant.spec.audit.mode;
  const p = ctx.audit;
  const prompt =
    p?.prompt === undefined ? null : typeof p.prompt === "string" ? p.prompt : JSON.stringify(p.prompt);
  const response = p?.response ?? null;
  return {
    policyHash: policyHash(ctx.tenant),
    mode,
    prompt: mode === "full" && prompt !== null ? prompt.slice(0, MAX_FULL_TEXT) : null,
    response: mode === "full" && response !== null ? response.slice(0, MAX_FULL_TEXT) : null,
    promptSha256: mode !== "none" && prompt !== null ? sha256(prompt) : null,
    responseSha256: mode !== "none" && response !== null ? sha256(response) : null,
  };
}
