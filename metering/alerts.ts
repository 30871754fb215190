// Spend threshold alerts. The budget script reports a threshold the first time spend crosses it
// in a period (a marker in the period's Redis hash makes it once per period across all routers);
// this module turns that into a structured log line, a Prometheus counter and, when the tenant
// has `limits.alertWebhook`, a signed POST retried with exponential backoff.
//
// Signature: header `x-loraplex-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
// the receiver recomputes it with the tenant's webhook secret and rejects stale timestamps.

import { createHmac } from "node:crypto";
import type { Logger } from "../core/log.ts";
import { sleep } from "../core/sleep.ts";
import type { MeteringMetrics } from "./metrics.ts";

export type SpendAlert = {
  tenant: string;
  period: "daily" | "monthly";
  periodStart: string;
  threshold: number;
  spentUSD: number;
  capUSD: number;
  at: string;
};

export type AlertSinkDeps = {
  log: Logger;
  metrics?: MeteringMetrics;
  /** Root secret; each tenant's signing key is derived from it (see webhookSecretFor). */
  webhookSecret?: string;
  retries?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
};

export type AlertSink = {
  fire(alert: SpendAlert, webhookUrl: string | undefined): void;
  /** Waits for deliveries in flight (shutdown, tests). */
  idle(): Promise<void>;
};

/** The per-tenant key: one tenant's secret never verifies another tenant's alerts. */
export function webhookSecretFor(rootSecret: string, tenant: string): string {
  return createHmac("sha256", rootSecret).update(`alert-webhook:${tenant}`).digest("hex");
}

export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

export function createAlertSink(deps: AlertSinkDeps): AlertSink {
  const { log } = deps;
  const retries = deps.retries ?? 5;
  const base = deps.baseDelayMs ?? 500;
  const timeoutMs = deps.timeoutMs ?? 5_000;
  const inFlight = new Set<Promise<void>>();

  async function deliver(alert: SpendAlert, url: string): Promise<void> {
    const body = JSON.stringify({ type: "spend.threshold_reached", ...alert });
    const secret = deps.webhookSecret ? webhookSecretFor(deps.webhookSecret, alert.tenant) : undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "user-agent": "loraplex-alerts",
      };
      if (secret) headers["x-loraplex-signature"] = signWebhook(secret, body, Math.floor(Date.now() / 1000));
      try {
        const res = await fetch(url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer().catch(() => {});
        if (res.ok) {
          deps.metrics?.webhook("delivered");
          return;
        }
        // 4xx other than 408/429 will not get better by retrying.
        if (res.status < 500 && res.status !== 408 && res.status !== 429) {
          log.warn({ tenant: alert.tenant, status: res.status }, "alert webhook refused the alert");
          break;
        }
      } catch (e) {
        log.debug(
          { tenant: alert.tenant, err: (e as Error).message, attempt },
          "alert webhook attempt failed",
        );
      }
      if (attempt < retries) {
        const delay = base * 2 ** attempt * (0.75 + Math.random() / 2);
        await sleep(delay, undefined, { unref: true });
      }
    }
    deps.metrics?.webhook("failed");
    log.error(
      { tenant: alert.tenant, threshold: alert.threshold },
      "alert webhook delivery failed after retries",
    );
  }

  return {
    fire(alert, url) {
      log.warn(
        { alert: "spend_threshold", ...alert },
        `tenant ${alert.tenant} reached ${alert.threshold}% of its ${alert.period} spend cap`,
      );
      deps.metrics?.alert(alert.tenant, alert.period, alert.threshold);
      if (!url) return;
      const p = deliver(alert, url).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
