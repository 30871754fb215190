// The practical floor for any Node proxy in front of an engine (a benchmark peer, not a product
// part): node:http in, one keep-alive undici Pool out, the request body parsed and serialised
// once (as every OpenAI-aware proxy must, to read or rewrite `model`), the answer relayed as it
// arrives. No auth, no policy, no metering, no logging.
//
//   node bench/bare-proxy.ts --port 18080 --upstream http://127.0.0.1:8000
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Pool } from "undici";

const { values: flags } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    upstream: { type: "string" },
  },
});
if (!flags.upstream) throw new Error("--upstream URL is required");
const pool = new Pool(flags.upstream, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200).end("ok");
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    try {
      const body = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      const up = await pool.request({
        method: "POST",
        path: req.url ?? "/",
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
        body,
      });
      const type = String(up.headers["content-type"] ?? "application/json");
      if (type.startsWith("text/event-stream")) {
        res.writeHead(up.statusCode, { "content-type": type, "cache-control": "no-cache" });
        for await (const chunk of up.body) res.write(chunk);
        res.end();
      } else {
        const text = await up.body.text();
        res.writeHead(up.statusCode, { "content-type": type, "content-length": Buffer.byteLength(text) });
        res.end(text);
      }
    } catch (err) {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: (err as Error).message } }));
    }
  });
});
server.listen(Number(flags.port), "127.0.0.1", () => {
  const addr = server.address();
  console.log(`bare proxy on ${typeof addr === "object" && addr ? addr.port : flags.port}`);
});
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  void pool.close().finally(() => process.exit(0));
});
