import { writeFileSync } from "node:fs";
import { it } from "vitest";
import { startServer } from "../support";
import { seed } from "./peers";
it("serve", async () => {
  const t = await startServer({ logger: { debug() {}, info: (o: unknown, m: string) => console.log("INFO", m, JSON.stringify(o)), warn: (o: unknown, m: string) => console.log("WARN", m, JSON.stringify(o)), error: (o: unknown, m: string) => console.log("ERR", m, JSON.stringify(o)) } });
  seed(t.store);
  writeFileSync("/tmp/scratch/ports", `${t.port} ${t.tlsPort}`);
  const { certificate } = await import("../support");
  writeFileSync("/tmp/scratch/ca.pem", certificate().cert);
  await new Promise((r) => setTimeout(r, 280_000));
  console.log("store count", t.store.messages("alice").length);
  await t.close();
}, 300_000);
