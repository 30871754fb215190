// What a request reserves against limits and spend caps is what the engine will be allowed to
// generate: the cap the policy sends upstream, never a larger guess.
import { describe, expect, it } from "vitest";
import { makeTenant } from "../../test/support/tenants.ts";
import { prepareBody } from "./prepare-body.ts";

const MODEL = "llama-3.1-8b-instruct";
const uncapped = makeTenant("uncapped");
const capped = (maxOutputTokens: number) => makeTenant("capped", { policy: { maxOutputTokens } });

describe("prepareBody's output reservation", () => {
  it("/v1/completions without max_tokens reserves the API's default of 16, capped by the tenant", () => {
    const completion = () => ({ model: MODEL, prompt: "Say hi" });
    expect(prepareBody("completions", uncapped, completion()).maxOutputTokens).toBe(16);
    expect(prepareBody("completions", capped(64), completion()).maxOutputTokens).toBe(16);
    expect(prepareBody("completions", capped(8), completion()).maxOutputTokens).toBe(8);
  });

  it("reserves the client's max_tokens, capped by the tenant", () => {
    const completion = { model: MODEL, prompt: "Say hi", max_tokens: 300 };
    expect(prepareBody("completions", uncapped, { ...completion }).maxOutputTokens).toBe(300);
    expect(prepareBody("completions", capped(100), { ...completion }).maxOutputTokens).toBe(100);
    const chat = { model: MODEL, messages: [{ role: "user", content: "hi" }], max_completion_tokens: 50 };
    expect(prepareBody("chat.completions", capped(100), chat).maxOutputTokens).toBe(50);
  });

  it("chat without any cap reserves 4096; embeddings reserve no output", () => {
    const chat = { model: MODEL, messages: [{ role: "user", content: "hi" }] };
    expect(prepareBody("chat.completions", uncapped, { ...chat }).maxOutputTokens).toBe(4096);
    expect(prepareBody("chat.completions", capped(64), { ...chat }).maxOutputTokens).toBe(64);
    expect(prepareBody("embeddings", uncapped, { model: MODEL, input: "hi" }).maxOutputTokens).toBe(0);
  });
});
