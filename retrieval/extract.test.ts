import { describe, expect, it } from "vitest";
import { extractText, htmlToText, IngestError } from "./extract.ts";

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof IngestError) return e.code;
    throw e;
  }
  return "ok";
};

describe("text extraction", () => {
  it("strips HTML to its text", () => {
    const html =
      "<head><title>T</title><style>a{}</style><script>x()</script></head><p>A &amp; B&#33;</p><br>C";
    const text = htmlToText(html);
    expect(text).toContain("A & B!");
    expect(text).toContain("C");
    expect(text).not.toMatch(/x\(\)|a\{\}|</);
  });

  it("keeps text and Markdown, validates JSON, drops NUL, refuses the rest", () => {
    expect(extractText("a.md", Buffer.from("# Title\nbody"))).toBe("# Title\nbody");
    expect(extractText("a.TXT", Buffer.from("x\u0000y"))).toBe("xy");
    expect(extractText("a.json", Buffer.from('{"a":1}'))).toBe('{"a":1}');
    expect(code(() => extractText("a.json", Buffer.from("{a:1}")))).toBe("invalid_file");
    expect(code(() => extractText("a.pdf", Buffer.from("%PDF")))).toBe("unsupported_file");
    expect(code(() => extractText("noext", Buffer.from("x")))).toBe("unsupported_file");
    expect(code(() => extractText("a.txt", Buffer.from([0xff, 0xfe, 0x41])))).toBe("invalid_file");
    expect(code(() => extractText("a.txt", Buffer.from("   \n")))).toBe("invalid_file");
  });
});
