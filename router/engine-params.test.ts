import { describe, expect, it } from "vitest";
import { ApiError } from "../core/errors.ts";
import { allowEngineParams } from "./engine-params.ts";

function refusal(endpoint: Parameters<typeof allowEngineParams>[0], body: Record<string, unknown>): ApiError {
  try {
    allowEngineParams(endpoint, body);
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("engine parameters by allowlist (issue 13, item 8)", () => {
  const chat = { model: "m", messages: [{ role: "user", content: "hi" }] };

  it.each([
    "chat_template",
    "chat_template_kwargs",
    "priority",
    "kv_transfer_params",
    "add_generation_prompt",
  ])("refuses %s with a 400 naming it", (field) => {
    const e = refusal("chat.completions", { ...chat, [field]: "x" });
    expect(e.status).toBe(400);
    expect(e.param).toBe(field);
    expect(e.message).toContain(field);
  });

  it("refuses fields it does not know, like OpenAI does", () => {
    const e = refusal("completions", { model: "m", prompt: "p", best_of_all: 3 });
    expect(e.message).toBe("Unrecognized request argument supplied: best_of_all");
    expect(refusal("embeddings", { model: "m", input: "x", stream: true }).param).toBe("stream");
    expect(refusal("chat.completions", { ...chat, guided_json: {} }).param).toBe("guided_json");
  });

  it("keeps sampling fields and drops OpenAI-platform ones without forwarding them", () => {
    const body: Record<string, unknown> = {
      ...chat,
      temperature: 0.2,
      top_k: 5,
      metadata: { a: "b" },
      store: true,
    };
    allowEngineParams("chat.completions", body);
    expect(body).toEqual({ ...chat, temperature: 0.2, top_k: 5 });
  });
});
