import { randomBytes } from "node:crypto";

/** A short, DNS-label-safe name that no other test in this run will pick. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}
