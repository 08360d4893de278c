#!/usr/bin/env python3
"""ref_regex.py - the reference for bench_parse: a handful of Python regexes.

usage: ref_regex.py [--min-time SEC] [--runs N] FILE

What a quick script over a Postfix log does: seven compiled regexes (queue
ID, client=, from=, to=, status=, message-id=, relay=) searched on every
line, counting how many lines carry each field.  No timestamps, no events, no
structure: so it does much less than el_parse_line, and a parser in C that is
only as fast as this has a problem.

Like bench_parse, it loads FILE into memory first, then runs passes over it
until a run has lasted --min-time seconds (default 2), does --runs runs
(default 3) and reports the best.  Per core = lines / process CPU seconds.
The last line is a summary for bench/parse.sh:
  result: mode=ref_regex lines=N cpu_lines_s=X wall_lines_s=X
Runs on any Python 3 (Debian 12's /usr/bin/python3 included); stdlib only.
"""

import argparse
import re
import sys
import time

# Bytes patterns: a log is bytes, and decoding it would only add work.
PATTERNS = [
    ("queue_id", re.compile(rb"\]: ([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): ")),
    ("client", re.compile(rb" client=([^\s\[,]*)\[([^\]]*)\]")),
    ("from", re.compile(rb" from=<([^>]*)>")),
    ("to", re.compile(rb" to=<([^>]*)>")),
    ("status", re.compile(rb" status=([a-z]+)")),
    ("message_id", re.compile(rb" message-id=(\S*)")),
    ("relay", re.compile(rb" relay=([^\s,]+)")),
]


def one_pass(lines, counts):
    """Search every pattern on every line; count the lines each matched."""
    pats = [p.search for _, p in PATTERNS]
    for line in lines:
        for i, search in enumerate(pats):
            if search(line):
                counts[i] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("file")
    args = ap.parse_args()

    with open(args.file, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        sys.exit("ref_regex.py: %s: no lines" % args.file)

    counts = [0] * len(PATTERNS)
    one_pass(lines, counts)  # warm-up, and the counts to print
    first = list(counts)

    best = None
    for run in range(args.runs):
        passes = 0
        w0, c0 = time.perf_counter(), time.process_time()
        while True:
            one_pass(lines, counts)
            passes += 1
            wall = time.perf_counter() - w0
            if wall >= args.min_time:
                break
        cpu = time.process_time() - c0
        print("run %d: %d passes, wall %.3f s, cpu %.3f s, %.0f lines/s per core"
              % (run + 1, passes, wall, cpu, len(lines) * passes / cpu))
        if best is None or cpu / passes < best[2] / best[0]:
            best = (passes, wall, cpu)

    passes, wall, cpu = best
    n = len(lines) * passes
    print("python:    %s" % sys.version.split()[0])
    print("file:      %s, %d bytes, %d lines" % (args.file, len(data), len(lines)))
    print("fields:    " + ", ".join("%s=%d" % (name, c)
                                    for (name, _), c in zip(PATTERNS, first)))
    print("per core:  %.0f lines/s, %.1f MB/s, %.1f ns/line"
          % (n / cpu, len(data) * passes / cpu / 1e6, cpu * 1e9 / n))
    print("wall:      %.0f lines/s" % (n / wall))
    print("result: mode=ref_regex lines=%d cpu_lines_s=%.0f wall_lines_s=%.0f"
          % (len(lines), n / cpu, n / wall))


if __name__ == "__main__":
    main()
