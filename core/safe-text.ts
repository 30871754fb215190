// Text a client controls, made storable. PostgreSQL refuses two things JavaScript strings can
// hold: NUL (U+0000, in text and in JSON turned into text) and lone UTF-16 surrogates (not valid
// Unicode, so not valid UTF-8). Every client-controlled string that is stored goes through
// storableText(); the check is two native scans, and only a string that fails is rewritten.
import { createHash } from "node:crypto";

/** True when PostgreSQL will store the string as it is. */
export function isStorable(s: string): boolean {
  return s.isWellFormed() && !s.includes("\0");
}

/** Lone surrogates and NUL become U+FFFD; everything else is kept. */
export function repairText(s: string): string {
  return s.toWellFormed().replaceAll("\0", "\uFFFD");
}

/**
 * SHA-256 of the original as a JSON string literal: unlike its UTF-8 bytes (where every lone
 * surrogate turns into the same U+FFFD), that spelling tells any two originals apart.
 */
export function originalHash(s: string): string {
  return createHash("sha256").update(JSON.stringify(s)).digest("hex");
}

/** At most `n` UTF-16 units, never cutting a surrogate pair in half. */
export function clipText(s: string, n: number): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

/** Which stored fields were repaired, with the hash of each original (see originalHash). */
export type Repairs = Record<string, string>;

/**
 * The string as it can be stored; when it had to be repaired, `repairs[field]` records the
 * original's hash so the row still proves what the client sent.
 */
export function storableText(s: string, field: string, repairs: Repairs): string {
  if (isStorable(s)) return s;
  repairs[field] = originalHash(s);
  return repairText(s);
}
