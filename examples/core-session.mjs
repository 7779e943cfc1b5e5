// A whole POP3 session between pop3-core's client and server state machines, in memory: no
// sockets, no timers. This is the shape every I/O shell (server, client, test harness) builds on.
import { ClientSession, NEED_DATA, PAUSED, Secret, ServerSession } from "pop3-core";

const maildrop = [
  new TextEncoder().encode(
    "From: alice@example.org\nSubject: hello\n\n.a line that starts with a dot\nbye\n",
  ),
];

const server = new ServerSession();
const client = new ClientSession();
const show = (who, bytes) => {
  for (const line of new TextDecoder().decode(bytes).split("\r\n").slice(0, -1)) {
    console.log(`${who}: ${line.startsWith("PASS ") ? "PASS ***" : line}`);
  }
};

function serverTurn() {
  const out = [];
  for (
    let event = server.nextEvent();
    event !== NEED_DATA && event !== PAUSED;
    event = server.nextEvent()
  ) {
    if (event.type !== "command") {
      out.push(server.sendReply(event.reply));
      continue;
    }
    const { command } = event;
    if (command.name === "RETR") {
      const message = maildrop[command.msg - 1];
      out.push(server.sendMultilineStart({ ok: true, text: "message follows" }));
      out.push(server.sendMultilineData(message), server.sendMultilineEnd());
    } else if (command.name === "STAT") {
      out.push(server.sendReply({ ok: true, text: `${maildrop.length} 80` }));
    } else {
      out.push(server.sendReply({ ok: true, text: `${command.name} done` }));
    }
  }
  return out;
}

const greeting = server.greet({ ok: true, text: "pop3-core example ready" });
show("S", greeting);
client.receiveData(greeting);
client.nextEvent();

// Pipelined: everything in one write, as a PIPELINING client may.
const request = [
  client.send({ name: "USER", user: "alice" }),
  client.send({ name: "PASS", password: new Secret("wonderland") }),
  client.send({ name: "STAT" }),
  client.send({ name: "RETR", msg: 1 }),
  client.send({ name: "QUIT" }),
];
for (const bytes of request) {
  show("C", bytes);
  server.receiveData(bytes);
}
for (const bytes of serverTurn()) {
  show("S", bytes);
  client.receiveData(bytes);
}

const body = [];
for (let event = client.nextEvent(); event !== NEED_DATA; event = client.nextEvent()) {
  if (event.type === "body-data") body.push(new TextDecoder().decode(event.data));
  if (event.type === "body-end")
    console.log(`\nclient received ${event.size} octets, dot unstuffed:\n${body.join("")}`);
}
console.log(`server state: ${server.state}, client state: ${client.state}`);
