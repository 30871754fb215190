// The audit row of a request: who asked for what, under which policy, and what was decided.
// What it keeps of the conversation follows tenant.spec.audit.mode: `full` keeps prompt and
// response, `hashes` keeps only their SHA-256 (enough to prove what was said, not to read it),
// `none` keeps neither. The router puts the texts on the request context (ctx.audit).
import { hash } from "node:crypto";
import type { RequestContext } from "../core/request-context.ts";
import { clipText, isStorable, originalHash, repairText } from "../core/safe-text.ts";
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
  /** The kept prompt/response had to be repaired to be storable: SHA-256 of each original. */
  repaired?: { prompt?: string; response?: string };
};

// The one-shot hash: no Hash object per call (two calls per audited request).
const sha256 = (s: string) => hash("sha256", s, "hex");
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
  const content: AuditContent = {
    policyHash: policyHash(ctx.tenant),
    mode,
    prompt: null,
    response: null,
    promptSha256: mode !== "none" && prompt !== null ? sha256(prompt) : null,
    responseSha256: mode !== "none" && response !== null ? sha256(response) : null,
  };
  if (mode === "full") {
    content.prompt = keep(prompt, "prompt", content);
    content.response = keep(response, "response", content);
  }
  return content;
}

/** Full-mode text as stored: bounded, and repaired (original's hash noted) when PostgreSQL would refuse it. */
function keep(s: string | null, field: "prompt" | "response", content: AuditContent): string | null {
  if (s === null) return null;
  const clipped = clipText(s, MAX_FULL_TEXT);
  if (isStorable(clipped)) return clipped;
  content.repaired = { ...content.repaired, [field]: originalHash(s) };
  return repairText(clipped);
}
