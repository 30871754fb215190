import { describe, expect, it } from "vitest";
import { loadServiceConfig } from "../core/config.ts";
import { parseControllerOptions, parseDuration } from "./options.ts";

const env = loadServiceConfig({});

describe("controller options", () => {
  it("parses durations", () => {
    expect(parseDuration("--x", "15s")).toBe(15_000);
    expect(parseDuration("--x", "500ms")).toBe(500);
    expect(parseDuration("--x", "2m")).toBe(120_000);
    expect(() => parseDuration("--x", "soon")).toThrow("--x must be a duration");
  });

  it("derives S3 egress from the endpoint and defaults the lease namespace", () => {
    const o = parseControllerOptions(["--system-namespace", "lpx"], env);
    if (o === "help") throw new Error("unexpected help");
    expect(o.leaseNamespace).toBe("lpx");
    expect(o.config.s3EgressCidrs).toEqual(["127.0.0.1/32"]);
    expect(o.config.s3Port).toBe(29000);
    expect(o.config.routerPodLabels).toEqual({ "app.kubernetes.io/name": "loraplex-router" });
    const named = parseControllerOptions([], { ...env, S3_ENDPOINT: "https://s3.example.com" });
    if (named === "help") throw new Error("unexpected help");
    expect(named.config.s3EgressCidrs).toEqual(["0.0.0.0/0"]);
    expect(named.config.s3Port).toBe(443);
    expect(named.config.dnsEgressCidrs).toEqual([]);
    const dns = parseControllerOptions(["--dns-egress-cidrs", "169.254.20.10/32,fd00::a/128"], env);
    if (dns === "help") throw new Error("unexpected help");
    expect(dns.config.dnsEgressCidrs).toEqual(["169.254.20.10/32", "fd00::a/128"]);
  });

  it("rejects bad values with the flag's name", () => {
    expect(() => parseControllerOptions(["--pod-security", "loose"], env)).toThrow("--pod-security");
    expect(() => parseControllerOptions(["--workers", "0"], env)).toThrow("--workers");
    expect(() => parseControllerOptions(["--dns-egress-cidrs", "10.0.0.10"], env)).toThrow(
      "--dns-egress-cidrs",
    );
    expect(() => parseControllerOptions(["--dns-egress-cidrs", "10.0.0.10/33"], env)).toThrow(
      "--dns-egress-cidrs",
    );
    expect(() => parseControllerOptions(["--router-pod-labels", "oops"], env)).toThrow("--router-pod-labels");
    expect(parseControllerOptions(["--no-leader-elect"], env)).toMatchObject({ leaderElect: false });
  });
});
