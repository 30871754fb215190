// Reading a command line, shared by every `loraplex <command>` (which parse their flags with
// node:util parseArgs): integer and number values with one-line errors that name the flag, what
// it accepts and what was given, and UsageError for any mistake on the command line.

/** A mistake on the command line: the command prints it with its usage text and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A UsageError, or one of parseArgs' own (unknown flag, missing value, stray argument). */
export function isUsageError(err: unknown): err is Error {
  if (err instanceof UsageError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

export type IntRange = { min?: number; max?: number };

const INTEGER = /^[+-]?\d+$/;

/**
 * The integer value of a flag, within [min, max] (default: 0 and up). Only plain decimal
 * digits count, so "", "1e3", "0x10" and "8.5" are refused rather than read as something else.
 * An absent flag (undefined) stays undefined.
 */
export function intFlag(flag: string, text: string, range?: IntRange): number;
export function intFlag(flag: string, text: string | undefined, range?: IntRange): number | undefined;
export function intFlag(flag: string, text: string | undefined, range: IntRange = {}): number | undefined {
  if (text === undefined) return undefined;
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = range;
  const n = Number(text.trim());
  if (!INTEGER.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const accepted = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
    throw new UsageError(`${flag} must be an integer ${accepted}, got '${text}'`);
  }
  return n;
}

/** A finite decimal number (e.g. a rate or milliseconds with a fraction); undefined stays undefined. */
export function numberFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n))
    throw new UsageError(`${flag} must be a number, got '${text}'`);
  return n;
}
