#!/usr/bin/env node
// The `loraplex` command and the composition root: it maps each subcommand to the component that
// runs it, so components never import each other. Plain JavaScript on purpose: it must run on an
// old Node long enough to say which Node it needs, before any TypeScript module is loaded.
// Modules load lazily: a process pays only for the component it runs.

const REQUIRED_NODE_MAJOR = 24;
const major = Number(process.versions.node.split(".")[0]);
if (major < REQUIRED_NODE_MAJOR) {
  console.error(
    `loraplex needs Node ${REQUIRED_NODE_MAJOR} or newer (this is ${process.version}); ` +
      "`make deps` installs it into .tools/ and every make target uses it.",
  );
  process.exit(1);
}

const commands = {
  adapters: {
    summary: "generate a valid PEFT LoRA adapter (to a folder or S3) for tests and demos",
    load: async () => (await import("../cli/adapters-command.ts")).adaptersCommand,
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
    load: async () => (await import("../cli/keys-command.ts")).keysCommand,
  },
  router: {
    summary: "OpenAI-compatible, tenant-aware router",
    load: async () => (await import("../router/main.ts")).routerCommand,
  },
  "train-sim": {
    summary: "training SIMULATOR for fine-tune Jobs (no GPU): progress lines + a valid PEFT adapter",
    load: async () => (await import("../trainer/train-sim.ts")).trainSimCommand,
  },
  trainer: {
    summary: "fine-tuning worker: fair queue → Kubernetes Jobs → servable adapters",
    load: async () => (await import("../trainer/main.ts")).trainerCommand,
  },
};

async function version() {
  const pkg = await import("../package.json", { with: { type: "json" } });
  return pkg.default.version;
}

async function usage() {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return [`loraplex ${await version()}`, "", "usage: loraplex <command> [options]", "", ...lines].join("\n");
}

async function main(argv) {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await usage());
    return 0;
  }
  if (name === "--version" || name === "-v") {
    console.log(await version());
    return 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    console.error(`loraplex: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  const cmd = await entry.load();
  return (await cmd.run(rest)) ?? 0;
}

process.exitCode = await main(process.argv.slice(2));
