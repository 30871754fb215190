import { describe, expect, it } from "vitest";
import { extractUsage } from "./relay.ts";
import { createSseRewriter } from "./sse.ts";

const LORA = "acme--support-bot--v2--0123abcd";
const chunk = (content: string) =>
  `data: {"id":"c1","object":"chat.completion.chunk","model":"${LORA}","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
const usage = `data: {"id":"c1","object":"chat.completion.chunk","model":"${LORA}","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n`;
const done = "data: [DONE]\n\n";

function run(input: string[], keepUsage: boolean) {
  const sse = createSseRewriter({ upstreamModel: LORA, clientModel: "support-bot@2", keepUsage });
  let out = "";
  for (const piece of input) out += sse.push(Buffer.from(piece));
  out += sse.end();
  return { out, stats: sse.stats };
}

describe("SSE rewriter", () => {
  it("renames the model, reads and drops the injected usage chunk, keeps [DONE]", () => {
    const { out, stats } = run([chunk("Hel"), chunk("lo"), usage, done], false);
    expect(out).not.toContain(LORA);
    expect(out.match(/"model":"support-bot@2"/g)).toHaveLength(2);
    expect(out).not.toContain('"usage"');
    expect(out.endsWith(done)).toBe(true);
    expect(stats).toMatchObject({ promptTokens: 7, completionTokens: 3, choiceEvents: 2, sawDone: true });
    expect(stats.firstTokenAt).toBeTypeOf("number");
  });

  it("keeps the usage chunk when the client asked for it", () => {
    const { out } = run([chunk("a"), usage, done], true);
    expect(out).toContain('"usage":{"prompt_tokens":7');
  });

  it("reassembles events split anywhere, including inside a multi-byte character and the lora name", () => {
    const whole = Buffer.from(chunk("héllo ✓") + usage + done);
    const cut = [5, 40, 61, 62, 63, 120, whole.length - 3];
    const pieces: Buffer[] = [];
    let at = 0;
    for (const c of cut) {
      pieces.push(whole.subarray(at, c));
      at = c;
    }
    pieces.push(whole.subarray(at));
    const sse = createSseRewriter({ upstreamModel: LORA, clientModel: "support-bot", keepUsage: false });
    let out = "";
    for (const p of pieces) out += sse.push(p);
    out += sse.end();
    expect(out).toBe(chunk("héllo ✓").replace(LORA, "support-bot") + done);
  });

  it("treats CRLF framing like LF and passes comments through", () => {
    const { out, stats } = run([": keep-alive\r\n\r\n", chunk("x").replaceAll("\n", "\r\n"), done], false);
    expect(out.startsWith(": keep-alive\n\n")).toBe(true);
    expect(stats.choiceEvents).toBe(1);
  });

  it("does not mistake quoted text in content for usage or errors", () => {
    const { out, stats } = run([chunk('{"usage":{"x":1},"error":{}}'), done], false);
    expect(stats.choiceEvents).toBe(1);
    expect(stats.upstreamError).toBeUndefined();
    expect(out).toContain('\\"usage\\"');
  });

  it("collects the streamed text only when asked", () => {
    const input = [chunk("Hel"), chunk("lo ✓"), usage, done];
    expect(run(input, false).stats.text).toBe("");
    const sse = createSseRewriter({
      upstreamModel: LORA,
      clientModel: "b",
      keepUsage: false,
      collectText: true,
    });
    for (const piece of input) sse.push(Buffer.from(piece));
    sse.end();
    expect(sse.stats.text).toBe("Hello ✓");
  });

  it("notices an engine error event", () => {
    const { stats } = run([chunk("a"), 'data: {"error":{"message":"boom","code":500}}\n\n'], false);
    expect(stats.upstreamError).toBe("boom");
    expect(stats.sawDone).toBe(false);
  });
});

describe("extractUsage", () => {
  it("finds the top-level usage in a large body without parsing it", () => {
    const body = `{"data":[{"embedding":[${Array(5000).fill("0.125").join(",")}]}],"model":"m","usage":{"prompt_tokens":12,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0}}}`;
    expect(extractUsage(body)).toEqual({ prompt_tokens: 12, completion_tokens: undefined });
  });

  it("returns nothing for bodies without usage or with a null one", () => {
    expect(extractUsage('{"a":1}')).toEqual({});
    expect(extractUsage('{"usage":null}')).toEqual({});
  });
});
