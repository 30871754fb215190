import type { KubeConfig } from "@kubernetes/client-node";
import { inject } from "vitest";
import { loadKubeConfig } from "../../kube/config.ts";

/** A KubeConfig for the run's test control plane (started by the vitest global setup). */
export function testKubeConfig(): KubeConfig {
  return loadKubeConfig({ kubeconfigPath: inject("kubeconfigPath") });
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as { code?: number }).code === 404;
}
