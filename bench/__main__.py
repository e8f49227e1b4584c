"""`python -m bench [SCENARIO ...] [--quick]`: run benchmark scenarios, write docs/benchmarks.md.

Each scenario lives in bench/scenario_<key>.py and exposes
`run(quick: bool) -> list[bench.report.Row]`. With no scenario named, all run
in the order of bench.report.TITLES.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench import report

MODULES = {
    "1": "bench.scenario_1",  # judge-bound
    "1b": "bench.scenario_1b",  # rate-limited judge
    "2": "bench.scenario_2",  # deterministic on PostgreSQL
    "3": "bench.scenario_3",  # 1M JSONL import
    "4": "bench.scenario_4",  # live pages under load
    "5": "bench.scenario_5",  # promptfoo and Phoenix
    "6": "bench.scenario_6",  # scale-out
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller N, for a quick check")
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(MODULES)
    unknown = [key for key in chosen if key not in MODULES]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")

    failed = []
    for key in chosen:
        started = time.monotonic()
        print(
            f"== scenario {key}: {report.TITLES[key]}{' (quick)' if args.quick else ''}", flush=True
        )
        try:
            module = importlib.import_module(MODULES[key])
            rows = module.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(key)
            continue
        report.save(key, rows, quick=args.quick, details=getattr(module, "DETAILS", None))
        for row in rows:
            mark = {True: "met", False: "NOT MET", None: "info"}[row.met]
            print(
                f"   {row.what}: {row.measured} vs {row.reference} → {row.ratio} "
                f"(target {row.target}: {mark})",
                flush=True,
            )
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    path = report.write()
    print(f"== wrote {path.relative_to(report.ROOT)}")
    if failed:
        print(f"== scenario(s) {', '.join(failed)} failed to run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
