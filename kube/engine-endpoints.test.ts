import type { V1EndpointSlice } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { endpointsFromSlices } from "./engine-endpoints.ts";

describe("endpointsFromSlices", () => {
  const slice = (ns: string, service: string, extra: Partial<V1EndpointSlice> = {}): V1EndpointSlice => ({
    addressType: "IPv4",
    metadata: { name: `${service}-x`, namespace: ns, labels: { "kubernetes.io/service-name": service } },
    ports: [
      { name: "http", port: 8000 },
      { name: "agent", port: 8001 },
    ],
    endpoints: [
      { addresses: ["10.0.0.1"] },
      { addresses: ["10.0.0.2"], conditions: { ready: false } },
      { addresses: ["10.0.0.3"], conditions: { ready: true, terminating: true } },
    ],
    ...extra,
  });
  it("takes ready endpoints of this namespace's service only", () => {
    const got = endpointsFromSlices(
      [slice("a", "shared-engine"), slice("b", "shared-engine"), slice("a", "other-engine")],
      { namespace: "a", service: "shared-engine" },
    );
    expect(got).toEqual([{ engineUrl: "http://10.0.0.1:8000", agentUrl: "http://10.0.0.1:8001" }]);
  });
  it("needs both named ports and brackets IPv6", () => {
    expect(
      endpointsFromSlices([slice("a", "s", { ports: [{ name: "http", port: 1 }] })], {
        namespace: "a",
        service: "s",
      }),
    ).toEqual([]);
    const v6 = slice("a", "s", { addressType: "IPv6", endpoints: [{ addresses: ["fd00::1"] }] });
    expect(endpointsFromSlices([v6], { namespace: "a", service: "s" })).toEqual([
      { engineUrl: "http://[fd00::1]:8000", agentUrl: "http://[fd00::1]:8001" },
    ]);
  });
  it("with includeNotReady, also takes endpoints that are not ready, but never terminating ones", () => {
    const got = endpointsFromSlices([slice("a", "shared-engine"), slice("a", "other-engine")], {
      namespace: "a",
      includeNotReady: true,
    });
    expect(got.map((e) => e.agentUrl)).toEqual(["http://10.0.0.1:8001", "http://10.0.0.2:8001"]);
  });
});
