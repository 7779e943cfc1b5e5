"""Drives Python's standard poplib against a POP3 server for the interop tests.

Usage: python3 poplib_client.py PLAN_JSON   (the password comes in env POP3_PASSWORD)

PLAN_JSON: {"address": "127.0.0.1", "port": 110, "servername": "localhost",
            "mode": "plain" | "stls" | "ssl", "cafile": "/path/ca.pem" (stls/ssl),
            "login": "user" | "apop" | "none", "user": "alice",
            "steps": [{"op": "retr", "msg": 1}, {"op": "top", "msg": 1, "lines": 2}, ...]}
Step ops: capa, stat, list, uidl, retr, top, dele, rset, noop, quit, close (drop the connection
without QUIT).

Prints one JSON object on stdout: {"ok": bool, "welcome": str, "tls": str|null,
"results": [...], "error": str, "errorType": str}. Bodies of RETR and TOP come back base64
encoded as poplib returned them: its lines (already dot-unstuffed, line ends removed) joined
with CRLF, plus a final CRLF when there is at least one line. Every raw line poplib read is
also checked for its line end: "nonCrlfLines" counts lines that did not end in CRLF, so a
server sending bare LF cannot hide behind poplib's line splitting.

poplib refuses lines longer than poplib._MAXLINE (2048 bytes); the test messages keep their
lines far below that, so the limit is left as it is (a longer line would fail the test loudly).
"""

import base64
import json
import os
import socket
import ssl
import sys
import poplib


class TapFile:
    """Wraps poplib's socket file to count raw lines that do not end in CRLF."""

    def __init__(self, inner, owner):
        self._inner = inner
        self._owner = owner

    def readline(self, *args):
        line = self._inner.readline(*args)
        if line and not line.endswith(b"\r\n"):
            self._owner.non_crlf_lines += 1
        return line

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Tapped:
    """Connects to the given address while TLS checks the certificate against self.host."""

    non_crlf_lines = 0
    address = "127.0.0.1"

    def tap(self):
        self.file = TapFile(self.file, self)

    def stls(self, context=None):
        response = super().stls(context)
        self.tap()
        return response


class Plain(Tapped, poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.address, self.port), timeout)


class Implicit(Tapped, poplib.POP3_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection((self.address, self.port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self.host)


def text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


def body_of(lines):
    return b"\r\n".join(lines) + (b"\r\n" if lines else b"")


def step(client, spec):
    op = spec["op"]
    before = client.non_crlf_lines
    result = {"op": op}
    if op == "capa":
        result["capabilities"] = {name: args for name, args in client.capa().items()}
    elif op == "stat":
        result["count"], result["size"] = client.stat()
    elif op in ("list", "uidl"):
        response, lines, octets = getattr(client, op)()
        result.update(response=text(response), lines=[text(line) for line in lines])
    elif op in ("retr", "top"):
        if op == "retr":
            response, lines, octets = client.retr(spec["msg"])
        else:
            response, lines, octets = client.top(spec["msg"], spec["lines"])
        result.update(
            response=text(response),
            octets=octets,
            body=base64.b64encode(body_of(lines)).decode("ascii"),
        )
    elif op == "dele":
        result["response"] = text(client.dele(spec["msg"]))
    elif op == "rset":
        result["response"] = text(client.rset())
    elif op == "noop":
        result["response"] = text(client.noop())
    elif op == "quit":
        result["response"] = text(client.quit())
    elif op == "close":
        client.close()
    else:
        raise ValueError(f"unknown op {op}")
    result["nonCrlfLines"] = client.non_crlf_lines - before
    return result


def main():
    plan = json.loads(sys.argv[1])
    password = os.environ.get("POP3_PASSWORD", "")
    Tapped.address = plan.get("address", "127.0.0.1")
    host = plan.get("servername", "localhost")
    timeout = plan.get("timeout", 60)
    mode = plan["mode"]
    output = {"ok": False, "welcome": None, "tls": None, "results": []}
    client = None
    try:
        context = None
        if mode in ("stls", "ssl"):
            context = ssl.create_default_context(cafile=plan["cafile"])
            context.check_hostname = True
            context.verify_mode = ssl.CERT_REQUIRED
        if mode == "ssl":
            client = Implicit(host, plan["port"], timeout=timeout, context=context)
        else:
            client = Plain(host, plan["port"], timeout=timeout)
        client.tap()
        output["welcome"] = text(client.getwelcome())
        if mode == "stls":
            output["stls"] = text(client.stls(context))
        if isinstance(client.sock, ssl.SSLSocket):
            output["tls"] = client.sock.version()
        login = plan.get("login", "user")
        if login == "user":
            output["user"] = text(client.user(plan["user"]))
            output["pass"] = text(client.pass_(password))
        elif login == "apop":
            output["apop"] = text(client.apop(plan["user"], password))
        for spec in plan["steps"]:
            output["results"].append(step(client, spec))
        output["ok"] = True
    except Exception as error:  # reported to the test, which decides
        first = error.args[0] if error.args else None
        output["error"] = text(first) if isinstance(first, bytes) else str(error)
        output["errorType"] = type(error).__name__
        if client is not None:
            try:
                client.close()
            except Exception:
                pass
    json.dump(output, sys.stdout)


if __name__ == "__main__":
    main()
