// Kubernetes resource quantities, as far as the controller needs them: comparing what it wrote
// with what the API server stored, and summing per-replica requests into a ResourceQuota.
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SCALE: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity's value (cores, bytes, count), or undefined for anything that is not one. */
export function quantityValue(q: string): number | undefined {
  const m = QUANTITY.exec(q);
  return m ? Number(m[1]) * SCALE[m[2] ?? ""]! : undefined;
}

export function sameQuantity(a: string, b: string): boolean {
  const va = quantityValue(a);
  return va !== undefined && va === quantityValue(b);
}

/** CPU as whole cores when exact, else millicores: "4", "4500m". */
export function formatCpu(cores: number): string {
  const milli = Math.round(cores * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Memory in the largest binary unit that keeps it whole: "32Gi", "33280Mi". */
export function formatMemory(bytes: number): string {
  for (const [unit, scale] of [
    ["Ti", 2 ** 40],
    ["Gi", 2 ** 30],
    ["Mi", 2 ** 20],
    ["Ki", 2 ** 10],
  ] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return String(Math.ceil(bytes));
}
