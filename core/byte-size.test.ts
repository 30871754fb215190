import { describe, expect, it } from "vitest";
import { formatBytes, parseByteSize } from "./byte-size.ts";

describe("byte sizes", () => {
  it.each([
    ["1048576", 1048576],
    ["16MiB", 16 * 2 ** 20],
    ["16Mi", 16 * 2 ** 20],
    ["10GiB", 10 * 2 ** 30],
    ["500MB", 500e6],
    ["1.5GiB", 1.5 * 2 ** 30],
    [" 64 KiB ", 64 * 1024],
    ["2k", 2000],
  ])("parses %j", (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(["", "ten", "10XB", "-5", "1e3", "GiB"])("rejects %j", (text) => {
    expect(() => parseByteSize(text)).toThrow(/not a byte size/);
  });

  it("formats for humans", () => {
    expect(formatBytes(16 * 2 ** 20)).toBe("16 MiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(12)).toBe("12 B");
  });
});
