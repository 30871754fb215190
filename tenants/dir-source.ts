// Local mode: the Tenant documents live as YAML files in a directory (`--tenants-dir`, default
// manifests/samples/), the same documents an infra team would `kubectl apply`. Every *.yaml,
// *.yml and *.json file is read, multi-document files included; other kinds (ModelPool,
// Adapter...) are ignored. The directory is watched and reloaded as a whole, shortly after the
// last change to a tenant file: other files there (a log, an editor's swap file) cause none.
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Logger } from "../core/log.ts";
import { parseTenant, type Tenant } from "../core/tenant.ts";
import type { MutableTenantStore, TenantProblem, TenantSource } from "./tenant-store.ts";

const DEFAULT_DEBOUNCE_MS = 100;
const TENANT_FILE = /\.(ya?ml|json)$/;

/**
 * Whether a change to `filename` may change the tenants: a tenant file, or the `..data` link
 * (and its `..data_tmp`/`..<timestamp>` companions) that a ConfigMap volume swaps on update.
 * No name at all (some platforms) may be anything.
 */
function affectsTenants(filename: string | null): boolean {
  return filename === null || TENANT_FILE.test(filename) || filename.startsWith("..");
}

export async function loadTenantDir(dir: string): Promise<{ tenants: Tenant[]; problems: TenantProblem[] }> {
  // Symlinks count: a ConfigMap mounted as a volume is a directory of links into `..data/`.
  const files = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith(".") && TENANT_FILE.test(e.name))
    .map((e) => e.name)
    .sort();
  const tenants = new Map<string, Tenant>();
  const problems: TenantProblem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(join(dir, file), "utf8");
    } catch (err) {
      // Deleted between readdir and read: the next reload settles it.
      problems.push({ source: file, error: `cannot read: ${(err as Error).message}` });
      continue;
    }
    for (const [i, doc] of parseAllDocuments(text).entries()) {
      const source = `${file}#${i}`;
      if (doc.errors.length > 0) {
        problems.push({ source, error: `YAML: ${doc.errors[0]!.message.split("\n")[0]}` });
        continue;
      }
      const value: unknown = doc.toJS();
      if (!isTenantKind(value)) continue;
      const name = readableName(value);
      const r = parseTenant(value);
      if (!r.ok) {
        problems.push({ source, name, error: r.error });
      } else if (tenants.has(r.tenant.metadata.name)) {
        problems.push({ source, name, error: `duplicate Tenant '${name}'; the first one is used` });
      } else {
        tenants.set(r.tenant.metadata.name, r.tenant);
      }
    }
  }
  return { tenants: [...tenants.values()], problems };
}

function isTenantKind(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>).kind === "Tenant";
}

function readableName(doc: Record<string, unknown>): string | undefined {
  const meta = doc.metadata as Record<string, unknown> | undefined;
  return typeof meta?.name === "string" ? meta.name : undefined;
}

/** Loads the directory into the store (throws if it cannot be read) and keeps it in sync. */
export async function startDirTenantSource(opts: {
  dir: string;
  store: MutableTenantStore;
  log?: Logger;
  debounceMs?: number;
}): Promise<TenantSource> {
  const { dir, store, log } = opts;
  const first = await loadTenantDir(dir).catch((err: Error) => {
    throw new Error(`cannot read tenants directory '${dir}': ${err.message}`);
  });
  store.replaceAll(first.tenants, first.problems);
  log?.info({ dir, tenants: first.tenants.length, problems: first.problems.length }, "tenants loaded");

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const reload = async () => {
    try {
      const next = await loadTenantDir(dir);
      if (closed) return;
      store.replaceAll(next.tenants, next.problems);
      log?.info({ dir, tenants: next.tenants.length, problems: next.problems.length }, "tenants reloaded");
    } catch (err) {
      // The directory itself went away or became unreadable: keep serving what we have.
      log?.error(
        { dir, err: (err as Error).message },
        "tenants directory reload failed; keeping the last state",
      );
    }
  };
  // One reload at a time; changes during a reload cause exactly one more.
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (running) {
        again = true;
        return;
      }
      running = reload().finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule();
        }
      });
    }, opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  };

  const watcher: FSWatcher = watch(dir, { persistent: false }, (_event, filename) => {
    if (affectsTenants(filename)) schedule();
  });
  watcher.on("error", (err) => log?.error({ dir, err: err.message }, "tenants directory watch failed"));

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
      await running;
    },
  };
}
