import { afterEach, describe, expect, it } from "vitest";
import type { LoginResult, MemoryStore, ServerObserver, SessionOutcome } from "../../src/index";
import { createMetricsServer, type MetricsServer, Pop3Metrics } from "../../src/metrics";
import { RawClient, startServer, type TestServer, USERS } from "../support";

/** The value of one sample line (`name{labels} value`) in a Prometheus text exposition. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const until = async (check: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("observer hooks", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("are called at logins, commands, RETR, [IN-USE] and session ends; a throwing one is ignored", async () => {
    const logins: [string, LoginResult][] = [];
    const commands: string[] = [];
    const retrs: [number, number][] = [];
    const outcomes: SessionOutcome[] = [];
    let inUse = 0;
    const observer: ServerObserver = {
      onLogin: (mechanism, result) => {
        logins.push([mechanism, result]);
        throw new Error("observers must not break sessions");
      },
      onCommand: (name) => commands.push(name),
      onRetr: (ms, bytes) => retrs.push([ms, bytes]),
      onInUse: () => {
        inUse += 1;
      },
      onSessionEnd: (outcome) => outcomes.push(outcome),
    };
    server = await startServer({ observer });
    const { size } = (server.store as MemoryStore).addMessage(
      "alice",
      "Subject: x\r\n\r\nbody\r\n",
    );

    const a = await RawClient.connect(server.port);
    await a.login();
    const b = await RawClient.connect(server.port);
    await b.line();
    await b.command("USER alice");
    expect(await b.command(`PASS ${USERS.alice}`)).toMatch(/^-ERR \[IN-USE\]/);
    await b.command("USER bob");
    expect(await b.command("PASS nope")).toMatch(/^-ERR \[AUTH\]/);
    b.send(`AUTH PLAIN ${Buffer.from(`\0bob\0${USERS.bob}`).toString("base64")}\r\n`);
    expect(await b.line()).toMatch(/^\+OK/);
    expect(await a.command("RETR 1")).toMatch(/^\+OK/);
    await a.body();
    await a.command("DELE 1");
    expect(await a.command("QUIT")).toMatch(/^\+OK/);
    b.close();
    await until(() => outcomes.length === 2);

    expect(logins).toEqual([
      ["USER", "ok"],
      ["USER", "in-use"],
      ["USER", "failed"],
      ["PLAIN", "ok"],
    ]);
    expect(inUse).toBe(1);
    expect(commands).toEqual([
      "USER",
      "PASS",
      "USER",
      "PASS",
      "USER",
      "PASS",
      "AUTH",
      "RETR",
      "DELE",
      "QUIT",
    ]);
    expect(retrs).toHaveLength(1);
    expect(retrs[0]![1]).toBe(size);
    expect(retrs[0]![0]).toBeGreaterThanOrEqual(0);
    expect(outcomes.sort()).toEqual(["dropped", "quit"]);
  });

  it("a failed UPDATE is reported as update-failed", async () => {
    const outcomes: SessionOutcome[] = [];
    server = await startServer({ observer: { onSessionEnd: (o) => outcomes.push(o) } });
    const store = server.store as MemoryStore;
    store.addMessage("alice", "x\r\n");
    store.failCommit = () => true;
    const client = await RawClient.connect(server.port);
    await client.login();
    await client.command("DELE 1");
    expect(await client.command("QUIT")).toMatch(/^-ERR \[SYS\/TEMP\]/);
    await until(() => outcomes.length === 1);
    expect(outcomes).toEqual(["update-failed"]);
  });
});

describe("pop3-server/metrics", () => {
  let server: TestServer | undefined;
  let endpoint: MetricsServer | undefined;
  afterEach(async () => {
    await endpoint?.close();
    await server?.close();
    endpoint = undefined;
    server = undefined;
  });

  it("serves Prometheus text with the expected counters after some sessions", async () => {
    const metrics = new Pop3Metrics();
    server = await startServer({ observer: metrics.observer });
    const store = server.store as MemoryStore;
    store.addMessage("alice", "Subject: 1\r\n\r\none\r\n");
    store.addMessage("alice", "Subject: 2\r\n\r\ntwo\r\n");
    endpoint = createMetricsServer(server.server, { port: 0 });
    const { port } = await endpoint.listen();

    const a = await RawClient.connect(server.port);
    await a.login();
    const b = await RawClient.connect(server.port);
    await b.line();
    await b.command("USER alice");
    expect(await b.command(`PASS ${USERS.alice}`)).toMatch(/^-ERR \[IN-USE\]/);
    await b.command("USER alice");
    expect(await b.command("PASS wrong")).toMatch(/^-ERR \[AUTH\]/);
    for (const n of [1, 2]) {
      expect(await a.command(`RETR ${n}`)).toMatch(/^\+OK/);
      await a.body();
    }
    await a.command("DELE 1");
    expect(await a.command("QUIT")).toMatch(/^\+OK/);
    await a.closed();
    // A session that just goes away.
    const c = await RawClient.connect(server.port);
    await c.login("bob", USERS.bob);
    c.close();
    b.close();
    await until(() => server?.server.stats().activeConnections === 0);

    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain("# TYPE pop3_connections_total counter");
    expect(sample(text, "pop3_connections_total")).toBe(3);
    expect(sample(text, "pop3_connections_active")).toBe(0);
    expect(sample(text, "pop3_sessions_active")).toBe(0);
    expect(sample(text, 'pop3_sessions_total{outcome="quit"}')).toBe(1);
    expect(sample(text, 'pop3_sessions_total{outcome="dropped"}')).toBe(1);
    expect(sample(text, 'pop3_logins_total{mechanism="USER",result="ok"}')).toBe(2);
    expect(sample(text, 'pop3_logins_total{mechanism="USER",result="failed"}')).toBe(1);
    expect(sample(text, 'pop3_logins_total{mechanism="USER",result="in-use"}')).toBe(1);
    expect(sample(text, "pop3_maildrop_in_use_total")).toBe(1);
    expect(sample(text, 'pop3_commands_total{command="RETR"}')).toBe(2);
    expect(sample(text, 'pop3_commands_total{command="PASS"}')).toBe(4);
    expect(sample(text, "pop3_retr_duration_seconds_count")).toBe(2);
    expect(sample(text, 'pop3_retr_duration_seconds_bucket{le="+Inf"}')).toBe(2);
    expect(sample(text, "pop3_messages_deleted_total")).toBe(1);
    const stats = server.server.stats();
    expect(sample(text, "pop3_bytes_sent_total")).toBe(stats.bytesSent);
    expect(sample(text, "pop3_bytes_received_total")).toBe(stats.bytesReceived);

    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("refuses a server that was not given the metrics' observer", async () => {
    server = await startServer();
    expect(() => createMetricsServer(server!.server, { port: 0 })).toThrow(/observer/);
    const metrics = new Pop3Metrics();
    expect(() => createMetricsServer(server!.server, { port: 70000, metrics })).toThrow(/port/);
    expect(() => createMetricsServer(server!.server, { port: 0, path: "x", metrics })).toThrow(
      /path/,
    );
  });

  it("takes a registry, a prefix and optional default process metrics", async () => {
    const metrics = new Pop3Metrics({ prefix: "mail_", defaultMetrics: true });
    server = await startServer({ observer: metrics.observer });
    metrics.track(server.server);
    const text = await metrics.metrics();
    expect(text).toContain("mail_connections_total 0");
    expect(text).toContain("mail_process_cpu_user_seconds_total");
    expect(() => new Pop3Metrics({ prefix: "bad-prefix" })).toThrow(TypeError);
  });
});
