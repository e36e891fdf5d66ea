#!/usr/bin/env python3
"""Runs the vendored reference engine (promotion_engine.py) with `now` pinned and with NULL
window sums counted as 0, so its results can be compared with policy-sidecar's.

    reference_harness.py --db LEDGER --now ISO cli ARGS...   # the reference's own CLI
    reference_harness.py --db LEDGER --now ISO eval-all       # JSON list: every agent's
                                                              # evaluate_promotion().to_dict()
    --keep-null-sums   leave the reference's NULL sums alone (to show its crash)

The reference file is executed unchanged (PS_REFERENCE_ENGINE or --engine). Three things are
substituted, nothing else:
  - sqlite3.connect(...) opens LEDGER (the CLI has the path hard-coded) on a connection whose
    cursors rewrite `datetime('now', ?)` to `datetime(?, ?)` and insert the pinned now at
    that parameter position, so SQLite computes the window from the pinned time;
  - datetime.now() returns the pinned time (the engine's _now() timestamps);
  - SUM(...) in the window query becomes COALESCE(SUM(...), 0): the reference crashes with
    a TypeError on NULL there, the sidecar counts it as 0 (README, defects fixed).
Each substitution is asserted to apply, so a changed reference fails loudly here.
Standard library only.
"""
import argparse
import datetime as real_datetime
import json
import os
import sqlite3 as real_sqlite3
import sys
import types

NOW_CALL = "datetime('now', ?)"
NULL_SUMS = [
    "SUM(CASE WHEN success = 1 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN decision = 'EXECUTE' AND success = 1 THEN 1 ELSE 0 END)",
]


def pin_sql(sql, params, now, coalesce=True):
    """Returns (sql, params) with every datetime('now', ?) reading the pinned now."""
    if NOW_CALL not in sql:
        return sql, params
    params = list(params)
    out, rest = [], sql
    while NOW_CALL in rest:
        head, rest = rest.split(NOW_CALL, 1)
        out.append(head)
        out.append("datetime(?, ?)")
        position = sum(part.count("?") for part in out[:-1])
        params.insert(position, now)
    out.append(rest)
    sql = "".join(out)
    if coalesce:
        for s in NULL_SUMS:
            sql = sql.replace(s, "COALESCE(%s, 0)" % s)
    return sql, tuple(params)


def make_sqlite_shim(db_path, now_iso, stats, coalesce):
    class PinnedCursor(real_sqlite3.Cursor):
        def execute(self, sql, params=()):
            new_sql, new_params = pin_sql(sql, params, now_iso, coalesce)
            if new_sql != sql:
                stats["pinned"] += 1
            if "COALESCE(SUM" in new_sql:
                stats["coalesced"] += 1
            return super().execute(new_sql, new_params)

    class PinnedConnection(real_sqlite3.Connection):
        def cursor(self, factory=PinnedCursor):
            return super().cursor(factory)

    shim = types.ModuleType("sqlite3")
    shim.__dict__.update(real_sqlite3.__dict__)

    def connect(_path, *args, **kwargs):
        # The ledger must exist: the reference would otherwise create an empty one.
        if not os.path.exists(db_path):
            raise SystemExit("reference_harness: no ledger at %s" % db_path)
        kwargs["factory"] = PinnedConnection
        return real_sqlite3.connect(db_path, *args, **kwargs)

    shim.connect = connect
    return shim


def make_datetime_shim(now):
    class PinnedDatetime(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return now if tz is None else now.astimezone(tz)

    shim = types.ModuleType("datetime")
    shim.__dict__.update(real_datetime.__dict__)
    shim.datetime = PinnedDatetime
    return shim


def load_reference(engine_path, db_path, now_iso, run_name, argv=None, coalesce=True):
    now = real_datetime.datetime.fromisoformat(now_iso.replace("Z", "+00:00"))
    now = now.astimezone(real_datetime.timezone.utc)
    stats = {"pinned": 0, "coalesced": 0}
    saved = {name: sys.modules.get(name) for name in ("sqlite3", "datetime")}
    sys.modules["sqlite3"] = make_sqlite_shim(db_path, now.isoformat(), stats, coalesce)
    sys.modules["datetime"] = make_datetime_shim(now)
    saved_argv = sys.argv
    namespace = {"__name__": run_name, "__file__": engine_path}
    try:
        with open(engine_path, encoding="utf-8") as f:
            source = f.read()
        for s in NULL_SUMS + [NOW_CALL]:
            if s not in source:
                raise SystemExit("reference_harness: reference engine changed: %r not found" % s)
        if argv is not None:
            sys.argv = [os.path.basename(engine_path)] + argv
        exec(compile(source, engine_path, "exec"), namespace)
    finally:
        sys.argv = saved_argv
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return namespace, stats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--now", required=True)
    parser.add_argument("--engine", default=os.environ.get("PS_REFERENCE_ENGINE"))
    parser.add_argument("--keep-null-sums", action="store_true")
    parser.add_argument("mode", choices=["cli", "eval-all"])
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    if not opts.engine:
        raise SystemExit("reference_harness: set PS_REFERENCE_ENGINE or pass --engine")

    if opts.mode == "cli":
        args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
        load_reference(opts.engine, opts.db, opts.now, "__main__", args,
                       coalesce=not opts.keep_null_sums)
        return
    ns, _ = load_reference(opts.engine, opts.db, opts.now, "promotion_engine_reference",
                           coalesce=not opts.keep_null_sums)
    engine = ns["PromotionEngine"](opts.db)
    conn = real_sqlite3.connect(opts.db)
    agents = [row[0] for row in conn.execute("SELECT agent_id FROM agent_metrics")]
    conn.close()
    print(json.dumps([engine.evaluate_promotion(a).to_dict() for a in agents], indent=2))


if __name__ == "__main__":
    main()
