// Text from an uploaded file, chosen by its name's extension: plain text and Markdown as they
// are, JSON validated and kept as written, HTML without tags, scripts and styles. Anything else,
// or bytes that are not UTF-8, is the file's fault: IngestError, which fails the file at once
// (no retry) with last_error in OpenAI's codes.
export class IngestError extends Error {
  readonly code: "unsupported_file" | "invalid_file";
  constructor(code: "unsupported_file" | "invalid_file", message: string) {
    super(message);
    this.code = code;
  }
}

const TEXT = new Set(["txt", "text", "md", "markdown", "csv", "tsv", "log", "rst"]);
const HTML = new Set(["html", "htm"]);
const SUPPORTED_EXTENSIONS = [...TEXT, "json", ...HTML];

const decoder = new TextDecoder("utf-8", { fatal: true });

export function extractText(filename: string, bytes: Buffer): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? "";
  if (!TEXT.has(ext) && ext !== "json" && !HTML.has(ext)) {
    throw new IngestError(
      "unsupported_file",
      `Files of type '.${ext || "(none)"}' cannot be searched; supported: ${SUPPORTED_EXTENSIONS.map((e) => `.${e}`).join(", ")}.`,
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new IngestError("invalid_file", "The file is not valid UTF-8 text.");
  }
  // PostgreSQL text cannot hold NUL; it carries no meaning in these formats either.
  text = text.replaceAll("\u0000", "");
  if (ext === "json") {
    try {
      JSON.parse(text);
    } catch (e) {
      throw new IngestError("invalid_file", `The file is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (HTML.has(ext)) text = htmlToText(text);
  if (text.trim() === "") throw new IngestError("invalid_file", "The file contains no text.");
  return text;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|noscript|template)\b[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<\/?(p|div|br|li|tr|h[1-6]|section|article|header|footer|table)\b[^>]*>/gi, "\n")
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === "#") {
        const n = e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
        return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : " ";
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/[ \t]+/g, " ")
    .replace(/\n\s*\n+/g, "\n\n")
    .trim();
}
