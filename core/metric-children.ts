// prom-client looks up a labelled series by re-validating and hashing its label values on every
// call. On the request path each label set's child is looked up once and kept instead; callers
// pass only bounded label values (resolved tenants and models, fixed words), so the map stays small.

/** Memoises `make` by its label values. */
export function metricChildren<T>(make: (...labels: string[]) => T): (...labels: string[]) => T {
  const cache = new Map<string, T>();
  return (...labels) => {
    const key = labels.join("\0");
    let child = cache.get(key);
    if (child === undefined) {
      child = make(...labels);
      cache.set(key, child);
    }
    return child;
  };
}
