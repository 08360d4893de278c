#!/usr/bin/env python3
"""search_replay.py - PostgreSQL's own statements of API requests, as pgbench scripts.

    search_replay.py POSTGRESQL_LOG OUTDIR

bench/search.sh logs every statement of the query service's connections
(log_min_duration_statement = 0) while a few hundred API requests run, then
calls this.  Each request begins with the session check (a statement on
`sessions`); the statements that follow on the same connection, up to the
next session check, are that request's searches.  Statements on the
authorization and bookkeeping tables (sessions, users, audit_log,
search_history, login_failures, else_scope) and the backend's plan_cache_mode
settings are left out: the reference is
what PostgreSQL serves for the searches themselves.  Parameters are put back
into the SQL as quoted literals.  The requests become one pgbench script,
OUTDIR/replay.sql, that runs one of them at random per transaction (pgbench
takes at most 128 script files); the count is printed.  OUTDIR/replay-params.sql
is the same with the parameters as pgbench variables, each statement preceded
by a \\gset of its values: with pgbench -M prepared, PostgreSQL then plans each
statement once per connection and binds the values, as the backend does.
"""
import os
import re
import sys

PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] (\S*) ?(LOG|DETAIL|ERROR|STATEMENT|WARNING|NOTICE|HINT|CONTEXT):  (.*)$")
EXEC = re.compile(r"^duration: [0-9.]+ ms  (?:execute [^:]*|statement): (.*)$", re.S)
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
SKIP = re.compile(r"\b(sessions|users|audit_log|search_history|login_failures|else_scope|user_groups|plan_cache_mode)\b")


def entries(path):
    """(pid, kind, text) for every log entry, continuation lines joined."""
    cur = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = PREFIX.match(line)
            if m:
                if cur:
                    yield cur
                cur = [m.group(1), m.group(3), m.group(4)]
            elif cur:
                cur[2] += "\n" + line
    if cur:
        yield cur


def main():
    log, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    stmts = []  # (pid, sql, params)
    last = {}  # pid -> the statement its previous entry logged (parse and bind log too)
    for pid, kind, text in entries(log):
        if kind == "LOG":
            m = EXEC.match(text)
            last[pid] = None
            if m:
                stmts.append([pid, m.group(1), {}])
                last[pid] = stmts[-1]
        elif kind == "DETAIL" and text.startswith("parameters: ") and last.get(pid):
            last[pid][2] = {int(n): v for n, v in PARAM.findall(text)}
            last[pid] = None
    groups, open_by_pid = [], {}
    for pid, sql, params in stmts:
        if re.search(r"\bsessions\b", sql):
            open_by_pid[pid] = []
            groups.append(open_by_pid[pid])
            continue
        if SKIP.search(sql) or pid not in open_by_pid:
            continue
        # $12 before $1: replace by number, longest first.
        text = re.sub(r"\$(\d+)", lambda m: params.get(int(m.group(1)), m.group(0)), sql)
        # The same with pgbench variables, set by a \gset line before it
        # (NULL stays inline: \gset cannot carry it).
        used = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
        sets = ["%s AS p%d" % (params[n], n) for n in used if params.get(n, "NULL") != "NULL"]
        ptext = re.sub(r"\$(\d+)", lambda m: ":p%s" % m.group(1)
                       if params.get(int(m.group(1)), "NULL") != "NULL" else "NULL", sql)
        gset = ("SELECT " + ", ".join(sets) + " \\gset") if sets else None
        open_by_pid[pid].append((text.replace("\n", " ").strip(), gset,
                                 ptext.replace("\n", " ").strip()))
    groups = [g for g in groups if g]
    for name, literal in (("replay.sql", True), ("replay-params.sql", False)):
        with open(os.path.join(out, name), "w") as f:
            f.write("\\set r random(1, %d)\n" % len(groups))
            for i, g in enumerate(groups):
                f.write("%s :r = %d\n" % ("\\if" if i == 0 else "\\elif", i + 1))
                for lit, gset, ptext in g:
                    if literal:
                        f.write(lit + ";\n")
                    else:
                        if gset:
                            f.write(gset + "\n")
                        f.write(ptext + ";\n")
            if groups:
                f.write("\\endif\n")
    print(len(groups))


if __name__ == "__main__":
    main()
