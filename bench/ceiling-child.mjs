// The ceiling of the RETR throughput bench: a plain Node socket server, in its own process, that
// answers every command with "+OK" and RETR with the whole message already on the wire format
// (status line, dot-stuffed body, terminator; encoded once at start) in a single socket.write. No
// store, no encoder, no drain waits: what loopback and Node's sockets allow, read by the same
// raw-socket reader (loadgen.mjs) as the real servers.
//
//   fork("ceiling-child.mjs", [JSON.stringify({ size, seed })]) -> sends { port, size }
import { createServer } from "node:net";
import { encodeMultiline } from "pop3-core";
import { makeMessage } from "./mail.mjs";

const { size, seed } = JSON.parse(process.argv[2]);
const message = makeMessage(size, seed);
const wire = Buffer.concat([
  Buffer.from(`+OK ${message.length} octets\r\n`),
  Buffer.from(encodeMultiline(message)),
]);

const server = createServer({ noDelay: true }, (socket) => {
  socket.on("error", () => {});
  socket.write("+OK ceiling ready\r\n");
  let pending = "";
  socket.on("data", (chunk) => {
    pending += chunk.toString("latin1");
    for (let lf = pending.indexOf("\n"); lf !== -1; lf = pending.indexOf("\n")) {
      const line = pending.slice(0, lf).trim().toUpperCase();
      pending = pending.slice(lf + 1);
      if (line.startsWith("RETR")) socket.write(wire);
      else if (line === "STAT") socket.write(`+OK 1 ${message.length}\r\n`);
      else if (line === "QUIT") socket.end("+OK bye\r\n");
      else socket.write("+OK\r\n");
    }
  });
});
server.listen(0, "127.0.0.1", () =>
  process.send({ port: server.address().port, size: message.length }),
);
process.on("disconnect", () => process.exit(0));
