// The `loraplex` command. Each subcommand lives in its component's folder and is registered
// here only once it does its real job. Modules load lazily: a process pays only for the
// component it runs (importing all of them costs about a second of CPU per start).
import pkg from "../package.json" with { type: "json" };

type Command = { summary: string; run(argv: string[]): Promise<number | undefined> };
type Entry = { summary: string; load(): Promise<Command> };

const commands: Record<string, Entry> = {
  adapters: {
    summary: "generate a valid PEFT LoRA adapter (to a folder or S3) for tests and demos",
    load: async () => (await import("../agent/generate-command.ts")).adaptersCommand,
  },
  agent: {
    summary: "adapter agent beside an engine: S3 → local disk → vLLM runtime LoRA API",
    load: async () => (await import("../agent/main.ts")).agentCommand,
  },
  controller: {
    summary: "Kubernetes operator for Tenant and ModelPool resources",
    load: async () => (await import("../controller/main.ts")).controllerCommand,
  },
  "engine-sim": {
    summary: "vLLM-compatible engine simulator (no GPU) for tests, demos and benchmarks",
    load: async () => (await import("../engine-sim/main.ts")).engineSimCommand,
  },
  keys: {
    summary: "create, list and revoke tenant API keys",
    load: async () => (await import("../router/auth/keys-command.ts")).keysCommand,
  },
  router: {
    summary: "OpenAI-compatible, tenant-aware router",
    load: async () => (await import("../router/main.ts")).routerCommand,
  },
  trainer: {
    summary: "fine-tuning worker: fair queue → Kubernetes Jobs → servable adapters",
    load: async () => (await import("../trainer/main.ts")).trainerCommand,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return [`loraplex ${pkg.version}`, "", "usage: loraplex <command> [options]", "", ...lines].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return 0;
  }
  if (name === "--version" || name === "-v") {
    console.log(pkg.version);
    return 0;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`loraplex: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const cmd = await entry.load();
  return (await cmd.run(rest)) ?? 0;
}
