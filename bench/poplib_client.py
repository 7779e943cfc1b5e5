"""Fetch every message of a maildrop with Python's poplib; print timings and octets as JSON.

Usage: python3 poplib_client.py HOST PORT USER PASSWORD [SMALL_COUNT]

Only RETR is timed (after login and STAT), as in client.bench.mjs. `octets` is what poplib
counts: the message lines, unstuffed, with CRLF - the RFC 1939 size.
"""

import json
import poplib
import sys
import time

# Lines are about 78 octets; poplib's default limit (2048) is fine, but never let it decide.
poplib._MAXLINE = 1 << 20


def main() -> None:
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    small_count = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    client = poplib.POP3(host, port, timeout=600)
    try:
        client.user(user)
        client.pass_(password)
        count, _ = client.stat()
        octets = 0
        small_seconds = 0.0
        start = time.perf_counter()
        for msg in range(1, count + 1):
            _, lines, size = client.retr(msg)
            octets += size
            del lines
            if msg == small_count:
                small_seconds = time.perf_counter() - start
        seconds = time.perf_counter() - start
        client.quit()
    finally:
        client.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "bytes": octets,
                "count": count,
                "smallSeconds": small_seconds,
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
