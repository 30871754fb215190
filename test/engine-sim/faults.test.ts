// Fault injection on the simulator: failing requests, responses cut midway, slow start, crash
// and restart, and a clean exit on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startLoraplex } from "../support/process.ts";
import { adapterDir, loadLora, MODEL, post, type Sim, startSim, until } from "./harness.ts";

const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content: "hello" }],
  max_tokens: 20,
  ignore_eos: true,
  ...extra,
});

describe("engine simulator: fault injection", () => {
  let sim: Sim;
  const faults = (body: unknown) => post(`${sim.url}/sim/faults`, body);

  beforeAll(async () => {
    sim = await startSim(["--time-scale", "0", "--fail-rate", "1", "--fail-status", "503"]);
  });
  afterAll(async () => {
    await sim?.proc.stop();
  });

  it("--fail-rate 1 fails every inference request with --fail-status, in vLLM's error shape", async () => {
    const res = await post(`${sim.url}/v1/chat/completions`, chatBody());
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { type: string; code: number; message: string } };
    expect(body.error).toMatchObject({ code: 503, type: "ServiceUnavailableError" });
    expect(body.error.message).toContain("Simulated failure");
    // Health and the model list are not inference requests.
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    expect((await fetch(`${sim.url}/v1/models`)).status).toBe(200);
  });

  it("GET/POST /sim/faults shows and replaces the knobs at runtime", async () => {
    expect(await (await fetch(`${sim.url}/sim/faults`)).json()).toEqual({
      fail_rate: 1,
      fail_status: 503,
      disconnect_rate: 0,
      slow_start_ms: 0,
    });
    const set = await faults({ fail_rate: 0 });
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({
      fail_rate: 0,
      fail_status: 500,
      disconnect_rate: 0,
      slow_start_ms: 0,
    });
    expect((await post(`${sim.url}/v1/chat/completions`, chatBody())).status).toBe(200);
    expect((await faults({ fail_rate: 2 })).status).toBe(400);
    expect((await faults({ fail_status: 200 })).status).toBe(400);
    expect((await faults({ bogus: 1 })).status).toBe(400);
    expect((await faults("[")).status).toBe(400);
  });

  it("disconnect_rate 1 cuts streams midway and drops whole responses", async () => {
    expect((await faults({ disconnect_rate: 1 })).status).toBe(200);
    const res = await post(`${sim.url}/v1/chat/completions`, chatBody({ stream: true }));
    expect(res.status).toBe(200);
    let received = "";
    const reader = res.body!.getReader();
    const read = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return "ended";
        received += Buffer.from(value).toString();
      }
    })();
    await expect(read).rejects.toThrow();
    expect(received).toContain('"role":"assistant"'); // it had started
    expect(received).not.toContain("[DONE]");

    await expect(post(`${sim.url}/v1/chat/completions`, chatBody())).rejects.toThrow();
    expect((await faults({})).status).toBe(200);
    expect((await post(`${sim.url}/v1/chat/completions`, chatBody())).status).toBe(200);
  });

  it("slow_start_ms turns /health to 503 until it passes", async () => {
    expect((await faults({ slow_start_ms: 600_000 })).status).toBe(200);
    expect((await fetch(`${sim.url}/health`)).status).toBe(503);
    expect((await faults({})).status).toBe(200);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
  });
});

describe("engine simulator: process lifecycle", () => {
  it("--slow-start-ms keeps /health at 503 once listening", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = await startLoraplex([
      "engine-sim",
      "--model",
      MODEL,
      "--port",
      String(port),
      "--slow-start-ms",
      "600000",
    ]);
    try {
      let status = 0;
      for (let i = 0; i < 600 && status === 0; i++) {
        status = await fetch(`${url}/health`).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(503);
      expect((await fetch(`${url}/v1/models`)).status).toBe(200);
    } finally {
      await proc.stop();
    }
  });

  it("POST /sim/crash exits with status 1; a restarted engine has lost its adapters", async () => {
    const dirs = await adapterDir("kept");
    let sim = await startSim(["--time-scale", "0"]);
    try {
      expect((await loadLora(sim, "kept", dirs.path("kept"))).status).toBe(200);
      const crash = await post(`${sim.url}/sim/crash`, {});
      expect(crash.status).toBe(202);
      expect(await sim.proc.exited).toBe(1);

      sim = await startSim(["--time-scale", "0"], sim.port);
      const list = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(list.data.map((m) => m.id)).toEqual([MODEL]);
    } finally {
      await sim.proc.stop();
      await dirs.cleanup();
    }
  });

  it("exits with status 0 on SIGTERM and prints one JSON startup line", async () => {
    const sim = await startSim(["--time-scale", "0"]);
    const startup = () =>
      sim.proc
        .output()
        .split("\n")
        .filter((l) => l.includes("engine simulator listening"));
    await until("the startup line", async () => startup().length > 0);
    expect(startup()).toHaveLength(1);
    expect(JSON.parse(startup()[0]!)).toMatchObject({ url: sim.url, model: MODEL });
    await sim.proc.stop();
    expect(await sim.proc.exited).toBe(0);
  });

  it("refuses bad flags with status 2", async () => {
    const proc = await startLoraplex(["engine-sim", "--model", MODEL, "--max-loras", "zero"]);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain("--max-loras must be a number");
    const noModel = await startLoraplex(["engine-sim"]);
    expect(await noModel.exited).toBe(2);
  });
});
