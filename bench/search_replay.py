#!/usr/bin/env python3
"""search_replay.py - PostgreSQL's own statements of API requests, as pgbench scripts.

    search_replay.py POSTGRESQL_LOG OUTDIR

bench/search.sh logs every statement of the query service's connections
(log_min_duration_statement = 0) while a few hundred API requests run, then
calls this.  A request begins with its first search statement: the
prepared statements else_g0 (quick search), else_g2 and else_g3 (flow by
queue ID, by e-mail id), that is the slots BE_DBQ_G_QUICK, BE_DBQ_G_FLOW_QID
and BE_DBQ_G_FLOW of backend/be_db_qint.h; the statements that follow on the
same connection, up to the next such one, are that request's searches.  (A
session check, a statement on `sessions`, also ends a request: the backend
reads the session only when its session cache misses.)  Statements on the
authorization and bookkeeping tables (sessions, users, audit_log,
search_history, login_failures, else_scope) and the backend's plan_cache_mode
settings are left out: the reference is what PostgreSQL serves for the
searches themselves.

The backend prepares each of its statements once per connection and runs it
with a generic plan for every request; the reference does the same.  It also
sends some of a request's statements together, in one round trip (libpq's
pipeline mode, backend/be_db_query.c be_db_q_flow): a flow view's
transactions (else_g3) with its rejects (else_g5), then every transaction's
recipients and raw lines (else_g4, else_g1), BE_DBQ_HOPS_AT_ONCE
transactions at a time.  The reference sends the same groups in pgbench
pipelines (\startpipeline, \endpipeline).  The
requests are grouped by shape (the sequence of statement texts, parameters as
$n): one pgbench script per shape, OUTDIR/replay-K.sql, in which one
transaction is one request: a \gset of that request's parameter values,
picked at random among the shape's requests, then the shape's statements,
each written once in the script, so pgbench -M prepared prepares each once
per connection.  The parameter values are rows of a table,
bench_replay.r<K> (i, s<stmt>_<param>...), that OUTDIR/params.sql makes:
the \gset is one primary-key lookup, a round trip the backend does not make
(about 20 us of PostgreSQL's CPU).  OUTDIR/replay.list has a line
"replay-K.sql WEIGHT" per script, WEIGHT its number of requests, for pgbench
-f FILE@WEIGHT (at most 128 shapes).  Prints the number of requests.

(Before, each script held every request's values as constants, chosen by a
chain of \if: pgbench walks the commands of a script one by one, skipped
ones too, so with 3,400 requests the client spent 0.56 ms of CPU per
transaction choosing, on the 2 cores PostgreSQL needs: a reference slowed
by its client.)

(An earlier version wrote every request's statements into one script: pgbench
prepares each command of a script on its own, so each of those ~1,400 copies
was parsed and planned, with a generic plan over every partition, at nearly
every execution, and one transaction cost ~87 ms, against ~2 ms here.)
"""
import os
import re
import sys

PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] (\S*) ?(LOG|DETAIL|ERROR|STATEMENT|WARNING|NOTICE|HINT|CONTEXT):  (.*)$")
EXEC = re.compile(r"^duration: [0-9.]+ ms  (?:execute ([^:]*)|statement): (.*)$", re.S)
HEADS = {"else_g0", "else_g2", "else_g3"}
# Statements that begin a round trip of their own, and after how many of them
# (BE_DBQ_HOPS_AT_ONCE transactions' else_g4) another begins.
ROUND_TRIP = {"else_g0", "else_g2", "else_g3"}
HOP, HOPS_AT_ONCE = "else_g4", 32
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
    stmts = []  # (pid, sql, params, prepared statement name or None)
    last = {}  # pid -> the statement its previous entry logged (parse and bind log too)
    for pid, kind, text in entries(log):
        if kind == "LOG":
            m = EXEC.match(text)
            last[pid] = None
            if m:
                stmts.append([pid, m.group(2), {}, m.group(1)])
                last[pid] = stmts[-1]
        elif kind == "DETAIL" and text.startswith("parameters: ") and last.get(pid):
            last[pid][2] = {int(n): v for n, v in PARAM.findall(text)}
            last[pid] = None
    groups, open_by_pid = [], {}
    for pid, sql, params, name in stmts:
        if re.search(r"\bsessions\b", sql):
            open_by_pid.pop(pid, None)
            continue
        if name in HEADS:
            open_by_pid[pid] = []
            groups.append(open_by_pid[pid])
        if SKIP.search(sql) or pid not in open_by_pid:
            continue
        open_by_pid[pid].append((sql.replace("\n", " ").strip(), params, name))
    groups = [g for g in groups if g]
    # Shape: the statement texts, a NULL parameter written in (\gset cannot
    # carry it); variable s<i>_<n> is parameter $n of statement i.
    shapes = {}
    for g in groups:
        texts, sets, hops = [], [], 0
        for i, (sql, params, name) in enumerate(g):
            def sub(m, i=i, params=params):
                n = int(m.group(1))
                v = params.get(n, "NULL")
                if v == "NULL":
                    return "NULL"
                return ":s%d_%d" % (i, n)
            # A statement of its own round trip starts with "|".
            own = name in ROUND_TRIP or (name == HOP and hops % HOPS_AT_ONCE == 0)
            hops += name == HOP
            texts.append(("|" if own else "") + re.sub(r"\$(\d+)", sub, sql))
            used = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
            sets += [("s%d_%d" % (i, n), params[n]) for n in used
                     if params.get(n, "NULL") != "NULL"]
        shapes.setdefault(tuple(texts), []).append(sets)
    if len(shapes) > 128:
        sys.exit("search_replay.py: %d shapes, pgbench takes 128 scripts" % len(shapes))
    with open(os.path.join(out, "replay.list"), "w") as lst, \
            open(os.path.join(out, "params.sql"), "w") as ps:
        ps.write("DROP SCHEMA IF EXISTS bench_replay CASCADE;\nCREATE SCHEMA bench_replay;\n")
        for k, (texts, reqs) in enumerate(sorted(shapes.items(), key=lambda x: -len(x[1]))):
            name = "replay-%d.sql" % (k + 1)
            table = "bench_replay.r%d" % (k + 1)
            # A shape's requests have the same parameters (NULL ones are in
            # its texts), so the same columns.
            cols = [c for c, _ in reqs[0]]
            if any([c for c, _ in sets] != cols for sets in reqs):
                sys.exit("search_replay.py: requests of one shape with different parameters")
            ps.write("CREATE TABLE %s (i integer PRIMARY KEY%s);\n"
                     % (table, "".join(", %s text" % c for c in cols)))
            ps.write("INSERT INTO %s VALUES\n" % table)
            ps.write(",\n".join("(%d%s)" % (j + 1, "".join(", " + v for _, v in sets))
                                 for j, sets in enumerate(reqs)) + ";\n")
            ps.write("ANALYZE %s;\n" % table)
            with open(os.path.join(out, name), "w") as f:
                f.write("\\set r random(1, %d)\n" % len(reqs))
                f.write("SELECT %s FROM %s WHERE i = :r \\gset\n"
                        % (", ".join(cols) if cols else "1", table))
                trips = []  # the statements of each round trip
                for t in texts:
                    if t.startswith("|") or not trips:
                        trips.append([])
                    trips[-1].append(t.lstrip("|"))
                for trip in trips:
                    if len(trip) > 1:
                        f.write("\\startpipeline\n")
                    for t in trip:
                        f.write(t + ";\n")
                    if len(trip) > 1:
                        f.write("\\endpipeline\n")
            lst.write("%s %d\n" % (name, len(reqs)))
    print(len(groups))


if __name__ == "__main__":
    main()
