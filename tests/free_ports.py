#!/usr/bin/env python3
"""free_ports.py N - print N distinct TCP ports free on 127.0.0.1, one a line.

For test scripts that start daemons on loopback: a fixed or random port
clashes when two runs share a machine; a port the kernel hands out for a
bind to port 0 is free at that moment.  All N sockets stay bound until the
N ports are known, so they are distinct; they are closed before printing, and
the script's daemons bind them a moment later (a port taken in between makes
that daemon fail to listen, and the test fail loudly, never pass wrongly).

ELSE_TEST_PORT_RANGE=LO-HI picks them from LO..HI instead (in random order),
for machines where each engineer or job has its own range.  Exits 1 when
fewer than N are free, 2 on bad arguments.
"""
import os
import random
import socket
import sys


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or not 1 <= int(sys.argv[1]) <= 100:
        print("usage: free_ports.py N   (1..100)", file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    rng = os.environ.get("ELSE_TEST_PORT_RANGE", "")
    if rng:
        try:
            lo, hi = (int(x) for x in rng.split("-", 1))
        except ValueError:
            lo = hi = 0
        if not 1024 <= lo <= hi <= 65535:
            print("free_ports.py: ELSE_TEST_PORT_RANGE must be LO-HI within 1024-65535",
                  file=sys.stderr)
            return 2
        candidates = list(range(lo, hi + 1))
        random.shuffle(candidates)
    else:
        candidates = [0] * n
    socks = []
    try:
        for port in candidates:
            if len(socks) == n:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        ports = [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    if len(ports) < n:
        print(f"free_ports.py: only {len(ports)} of {n} ports free", file=sys.stderr)
        return 1
    print("\n".join(str(p) for p in ports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
