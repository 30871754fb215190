// The agent's adapter directory on local disk: one folder per lora_name, written into a temp
// folder first and renamed into place only once verified, so a crash or failed load never
// leaves a half-written adapter where the engine could read it. Kept under a byte budget, LRU.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatBytes } from "../core/byte-size.ts";
import { CONFIG_FILE, WEIGHTS_FILE } from "../core/peft.ts";
import { AgentFailure } from "./errors.ts";

const META_FILE = ".loraplex-entry.json";
const TEMP = ".tmp";

export type EntryMeta = {
  loraName: string;
  tenant: string;
  adapter: string;
  version: number;
  source: string;
  weightsSha256: string;
  bytes: number;
  createdAt: number;
};

export type CacheEntry = EntryMeta & {
  dir: string;
  lastUsed: number;
  /** The engine had it registered when we last looked or loaded it. */
  loaded: boolean;
  /** The agent loaded it on request and keeps it registered: reconcile reloads it if the engine lost it. */
  wanted: boolean;
  /** Bumped on every change to `loaded`, so a stale engine snapshot cannot overwrite a newer fact. */
  generation: number;
};

export type Reservation = { release(): void };

export class DiskCache {
  readonly root: string;
  readonly maxBytes: number;
  private readonly entries = new Map<string, CacheEntry>();
  private reservedBytes = 0;
  private spaceQueue: Promise<unknown> = Promise.resolve();

  constructor(root: string, maxBytes: number) {
    this.root = root;
    this.maxBytes = maxBytes;
  }

  /** Rebuilds the index from disk: complete entries are kept, leftovers of a crash are removed. */
  async open(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(join(this.root, TEMP), { recursive: true, force: true });
    await mkdir(join(this.root, TEMP), { recursive: true });
    for (const name of await readdir(this.root)) {
      if (name === TEMP) continue;
      const dir = join(this.root, name);
      try {
        const meta = JSON.parse(await readFile(join(dir, META_FILE), "utf8")) as EntryMeta;
        if (meta.loraName !== name) throw new Error("entry folder does not match its metadata");
        await stat(join(dir, CONFIG_FILE));
        await stat(join(dir, WEIGHTS_FILE));
        const used = (await stat(join(dir, META_FILE))).mtimeMs;
        this.entries.set(name, {
          ...meta,
          dir,
          lastUsed: used,
          loaded: false,
          wanted: false,
          generation: 0,
        });
      } catch {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }

  get(loraName: string): CacheEntry | undefined {
    return this.entries.get(loraName);
  }

  list(): CacheEntry[] {
    return [...this.entries.values()];
  }

  get usedBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.bytes;
    return n;
  }

  touch(entry: CacheEntry): void {
    entry.lastUsed = Date.now();
  }

  setLoaded(entry: CacheEntry, loaded: boolean): void {
    entry.loaded = loaded;
    entry.generation++;
  }

  /** A fresh folder for one download; the caller removes it if the download fails. */
  async tempDir(loraName: string): Promise<string> {
    const dir = join(this.root, TEMP, `${loraName}-${randomBytes(4).toString("hex")}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Reserves `bytes` for a download, evicting least-recently-used entries through `evict`
   * (which unloads from the engine and calls remove(); it returns false to skip a busy entry).
   * Reservations are made one at a time so two downloads cannot both count the same free space.
   */
  reserve(bytes: number, evict: (e: CacheEntry) => Promise<boolean>): Promise<Reservation> {
    if (bytes > this.maxBytes) {
      return Promise.reject(
        new AgentFailure(
          507,
          "adapter_too_large",
          `adapter is ${formatBytes(bytes)}, larger than the whole disk cache (--cache-max-bytes ${formatBytes(this.maxBytes)})`,
        ),
      );
    }
    const next = this.spaceQueue.then(async () => {
      const fits = () => this.usedBytes + this.reservedBytes + bytes <= this.maxBytes;
      const byAge = this.list().sort((a, b) => a.lastUsed - b.lastUsed);
      for (const victim of byAge) {
        if (fits()) break;
        await evict(victim);
      }
      if (!fits()) {
        throw new AgentFailure(
          507,
          "cache_full",
          `no room for ${formatBytes(bytes)}: the disk cache holds ${formatBytes(this.usedBytes)} of ${formatBytes(this.maxBytes)} and the rest is in use`,
        );
      }
      this.reservedBytes += bytes;
      let released = false;
      return {
        release: () => {
          if (!released) this.reservedBytes -= bytes;
          released = true;
        },
      };
    });
    this.spaceQueue = next.catch(() => {});
    return next;
  }

  /** Moves a verified temp folder into place and indexes it. */
  async commit(tempDir: string, meta: EntryMeta): Promise<CacheEntry> {
    await writeFile(join(tempDir, META_FILE), JSON.stringify(meta));
    const dir = join(this.root, meta.loraName);
    await rm(dir, { recursive: true, force: true });
    await rename(tempDir, dir);
    const entry: CacheEntry = {
      ...meta,
      dir,
      lastUsed: Date.now(),
      loaded: false,
      wanted: false,
      generation: 0,
    };
    this.entries.set(meta.loraName, entry);
    return entry;
  }

  /** Drops an entry from the index first (nobody can pick it up again), then from disk. */
  async remove(loraName: string): Promise<void> {
    const entry = this.entries.get(loraName);
    this.entries.delete(loraName);
    if (entry) await rm(entry.dir, { recursive: true, force: true });
  }

  async discard(tempDir: string): Promise<void> {
    await rm(tempDir, { recursive: true, force: true });
  }

  /** Whether the entry's files are still on disk (someone may have wiped the volume). */
  async intact(entry: CacheEntry): Promise<boolean> {
    try {
      await stat(join(entry.dir, CONFIG_FILE));
      await stat(join(entry.dir, WEIGHTS_FILE));
      return true;
    } catch {
      return false;
    }
  }
}
