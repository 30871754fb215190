// The `loraplex` command. Each subcommand lives in its component's folder and is registered
// here only once it does its real job.
import pkg from "../package.json" with { type: "json" };

type Command = { summary: string; run(argv: string[]): Promise<number | undefined> };

const commands: Record<string, Command> = {};

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
  const cmd = commands[name];
  if (!cmd) {
    console.error(`loraplex: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await cmd.run(rest)) ?? 0;
}
