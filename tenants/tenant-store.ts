// The router's view of the Tenant resources: only documents that validate are served. An invalid
// document is reported (log + problems()) and its tenant is absent until it is fixed: failing
// closed means a broken edit can never leave an older, looser policy or adapter list in force.
import type { Logger } from "../core/log.ts";
import { parseTenant, type Tenant } from "../core/tenant.ts";

export type TenantProblem = {
  /** Where the document came from: a file (and document index) or a Kubernetes object. */
  source: string;
  /** The tenant's name when the document had a readable one. */
  name?: string;
  error: string;
};

export type TenantStore = {
  get(name: string): Tenant | undefined;
  list(): Tenant[];
  problems(): TenantProblem[];
  /** Every base model some tenant may use: a name outside it is unknown, not forbidden. */
  baseModels(): ReadonlySet<string>;
  /** Called after each change; returns an unsubscribe function. */
  onChange(cb: () => void): () => void;
};

/** Something that keeps a store up to date (a directory watcher, a Kubernetes informer). */
export type TenantSource = { close(): Promise<void> };

export type MutableTenantStore = TenantStore & {
  /** Replaces everything (local mode reloads a whole directory at once). */
  replaceAll(tenants: readonly Tenant[], problems: readonly TenantProblem[]): void;
  /** Validates one document keyed by `name`: stores it, or removes that tenant and records why. */
  applyDocument(name: string, source: string, doc: unknown): void;
  remove(name: string): void;
};

export function createTenantStore(opts: { log?: Logger } = {}): MutableTenantStore {
  let tenants = new Map<string, Tenant>();
  // Keyed by tenant name (or source when nameless) so a fixed document clears its problem.
  let problems = new Map<string, TenantProblem>();
  let models: ReadonlySet<string> = new Set();
  let listed: Tenant[] = [];
  const listeners = new Set<() => void>();

  const changed = () => {
    listed = [...tenants.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    models = new Set(listed.flatMap((t) => t.spec.models));
    for (const cb of listeners) {
      try {
        cb();
      } catch (err) {
        opts.log?.error({ err: (err as Error).message }, "tenant change listener failed");
      }
    }
  };
  const report = (p: TenantProblem) => {
    opts.log?.warn({ source: p.source, tenant: p.name, error: p.error }, "invalid Tenant skipped");
  };

  return {
    get: (name) => tenants.get(name),
    list: () => listed,
    problems: () => [...problems.values()],
    baseModels: () => models,
    onChange(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    replaceAll(next, nextProblems) {
      tenants = new Map(next.map((t) => [t.metadata.name, t]));
      problems = new Map(nextProblems.map((p) => [p.name ?? p.source, p]));
      for (const p of nextProblems) report(p);
      changed();
    },
    applyDocument(name, source, doc) {
      const r = parseTenant(doc);
      if (r.ok && r.tenant.metadata.name === name) {
        tenants.set(name, r.tenant);
        problems.delete(name);
      } else {
        tenants.delete(name);
        const p = { source, name, error: r.ok ? `metadata.name is not '${name}'` : r.error };
        problems.set(name, p);
        report(p);
      }
      changed();
    },
    remove(name) {
      const had = tenants.delete(name);
      const hadProblem = problems.delete(name);
      if (had || hadProblem) changed();
    },
  };
}
