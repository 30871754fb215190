// Line-by-line validation of a fine-tuning file in OpenAI's chat format: one JSON object per
// line, {"messages": [{"role", "content"}, ...]} with at least one assistant message. The first
// problems are reported with their line numbers, so a tenant can fix a large file in one pass.
// The validator is fed the upload as it streams to S3, so a file is never held whole.
const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);
export const MAX_REPORTED_ERRORS = 5;
/** The longest example (one line) checked; longer lines are reported, not held in memory whole. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
const NEWLINE = 0x0a;

export type JsonlReport = { examples: number; errors: string[] };

/**
 * Checks a file as it streams past, one line at a time: memory holds at most one line (up to
 * MAX_LINE_BYTES), never the file. Lines split at byte 0x0A, which never occurs inside a UTF-8
 * multi-byte character, so each line decodes on its own. Stops looking after the reported errors.
 */
export class JsonlValidator {
  private examples = 0;
  private readonly errors: string[] = [];
  private line = 1;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current line outgrew MAX_LINE_BYTES: skip to its end. */
  private skipping = false;

  get done(): boolean {
    return this.errors.length >= MAX_REPORTED_ERRORS;
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (!this.done) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) {
        this.hold(chunk.subarray(start));
        return;
      }
      if (this.pendingBytes === 0 && !this.skipping) {
        // The whole line is in this chunk: decoded in place, no copy (the common case).
        this.check(nl - start > MAX_LINE_BYTES ? undefined : chunk.toString("utf8", start, nl));
      } else {
        this.hold(chunk.subarray(start, nl));
        this.check(
          this.skipping ? undefined : Buffer.concat(this.pending, this.pendingBytes).toString("utf8"),
        );
      }
      start = nl + 1;
    }
  }

  end(): JsonlReport {
    if (!this.done && (this.pendingBytes > 0 || this.skipping)) {
      this.check(this.skipping ? undefined : Buffer.concat(this.pending, this.pendingBytes).toString("utf8"));
    }
    const errors = [...this.errors];
    if (errors.length === 0 && this.examples === 0) errors.push("the file holds no training examples");
    return { examples: this.examples, errors };
  }

  private hold(part: Buffer): void {
    if (this.skipping || part.length === 0) return;
    if (this.pendingBytes + part.length > MAX_LINE_BYTES) {
      this.tooLong();
      return;
    }
    // Copied: the caller's chunk is reused by the stream once we return.
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }

  /** Ends the current line: `text` is undefined when the line was too long to hold. */
  private check(text: string | undefined): void {
    if (text === undefined) {
      if (!this.skipping) this.tooLong();
    } else {
      const line = text.trim();
      // A trailing newline (or blank lines between examples) carries no example.
      if (line !== "") {
        const problem = checkLine(line);
        if (problem) this.errors.push(`line ${this.line}: ${problem}`);
        else this.examples++;
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = false;
    this.line++;
  }

  private tooLong(): void {
    this.errors.push(`line ${this.line}: longer than ${MAX_LINE_BYTES} bytes, the limit for one example`);
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = true;
  }
}

export function validateChatJsonl(text: string): JsonlReport {
  const v = new JsonlValidator();
  v.push(Buffer.from(text, "utf8"));
  return v.end();
}

function checkLine(line: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "not valid JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "each line must be a JSON object";
  }
  const messages = (value as { messages?: unknown }).messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    return "'messages' must be a non-empty array";
  }
  let assistant = false;
  for (const [j, m] of messages.entries()) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) return `messages[${j}] must be an object`;
    const { role, content, tool_calls } = m as { role?: unknown; content?: unknown; tool_calls?: unknown };
    if (typeof role !== "string" || !ROLES.has(role)) {
      return `messages[${j}].role must be one of ${[...ROLES].join(", ")}`;
    }
    // An assistant turn that only calls tools may leave content null.
    const toolCallOnly = role === "assistant" && Array.isArray(tool_calls) && content == null;
    if (!toolCallOnly && !validContent(content)) {
      return `messages[${j}].content must be a string or an array of text parts`;
    }
    if (role === "assistant") assistant = true;
  }
  if (!assistant) return "an example needs at least one assistant message to learn from";
  return undefined;
}

function validContent(content: unknown): boolean {
  if (typeof content === "string") return true;
  return (
    Array.isArray(content) &&
    content.length > 0 &&
    content.every(
      (p) =>
        typeof p === "object" &&
        p !== null &&
        (p as { type?: unknown }).type === "text" &&
        typeof (p as { text?: unknown }).text === "string",
    )
  );
}
