// Line-by-line validation of a fine-tuning file in OpenAI's chat format: one JSON object per
// line, {"messages": [{"role", "content"}, ...]} with at least one assistant message. The first
// problems are reported with their line numbers, so a tenant can fix a large file in one pass.
const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);
export const MAX_REPORTED_ERRORS = 5;

export type JsonlReport = { examples: number; errors: string[] };

export function validateChatJsonl(text: string): JsonlReport {
  const errors: string[] = [];
  let examples = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length && errors.length < MAX_REPORTED_ERRORS; i++) {
    const line = lines[i]!.trim();
    // A trailing newline (or blank lines between examples) carries no example.
    if (line === "") continue;
    const problem = checkLine(line);
    if (problem) errors.push(`line ${i + 1}: ${problem}`);
    else examples++;
  }
  if (errors.length === 0 && examples === 0) errors.push("the file holds no training examples");
  return { examples, errors };
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
