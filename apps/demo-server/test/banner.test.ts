import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { banner, shellQuote } from "../src/banner";

const base = {
  host: "127.0.0.1",
  plainPort: 1110,
  tlsPort: 1995,
  repoRoot: "/src/pop3",
  extra: "",
  loopback: true,
};

const line = (text: string, label: string): string =>
  text
    .split("\n")
    .find((l) => l.startsWith(`  ${label}  `))
    ?.slice(label.length + 2)
    .trim() ?? "";

describe("the demo's banner", () => {
  it("delivers into the default data folder with pnpm demo deliver, and names any other one", () => {
    const usual = banner({ ...base, dataDir: "/src/pop3/data" });
    expect(line(usual, "deliver")).toBe(
      "printf 'Subject: hello\\r\\n\\r\\nhi alice\\r\\n' | pnpm demo deliver alice -",
    );
    const other = banner({ ...base, dataDir: "/var/tmp/my demo" });
    expect(line(other, "deliver")).toContain(
      "| POP3_DEMO_DATA='/var/tmp/my demo' pnpm demo deliver",
    );
    expect(line(other, "the CLI")).toBe(
      "POP3_PASSWORD=alice pnpm pop3 list pop3://alice@127.0.0.1:1110 --ca '/var/tmp/my demo/tls/cert.pem'",
    );
  });

  it("quotes paths so that sh reads them back as they were", () => {
    for (const path of ["/plain/path.pem", "/with space/x", '/it\'s/$HOME/`x`/"q"', "/a\\b"]) {
      const echoed = execFileSync("sh", ["-c", `printf %s ${shellQuote(path)}`]).toString();
      expect(echoed).toBe(path);
    }
  });

  it("gives poplib a program that survives the shell with an awkward path", () => {
    const dataDir = '/tmp/it\'s "odd" $x';
    const poplib = line(banner({ ...base, dataDir }), "Python poplib");
    // What python3 would receive as its -c argument, through the shell.
    const program = execFileSync("sh", ["-c", `printf %s ${poplib.slice("python3 -c ".length)}`])
      .toString()
      .trim();
    expect(program).toContain(`cafile='/tmp/it\\'s "odd" $x/tls/cert.pem'`);
  });

  it("brackets an IPv6 address in URLs", () => {
    const text = banner({ ...base, host: "::1", dataDir: "/src/pop3/data" });
    expect(line(text, "curl (TLS)")).toContain("pop3s://alice:alice@[::1]:1995/");
  });
});
