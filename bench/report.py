"""Benchmark results: one Row per figure, saved per scenario, rendered to docs/benchmarks.md.

Each scenario returns a list of `Row`s. `save()` writes them to
bench/output/<scenario>.json (ignored by git); `render()` builds the Markdown
page from every saved scenario plus `bench/profiles.md` (what the profiles
showed, written by hand), so one scenario can be re-run alone and the page
still shows the others' latest figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "bench" / "output"
DOC = ROOT / "docs" / "benchmarks.md"
PROFILES = ROOT / "bench" / "profiles.md"

# Display order and titles; a scenario module registers under its key in bench/__main__.py.
TITLES = {
    "1": "Judge-bound run",
    "1b": "Rate-limited judge",
    "2": "Deterministic run on PostgreSQL",
    "3": "Import 1M JSONL records",
    "4": "Live pages under load",
    "5": "Peers on the same work",
    "6": "Scale-out on the Redis broker",
}


@dataclasses.dataclass
class Row:
    """One measured figure beside its bound (or peer) and the target.

    ratio: measured / reference in the direction the target states, e.g.
    "1.08× bound" for a wall time or "0.74 of bound" for a throughput.
    """

    scenario: str
    what: str  # e.g. "wall time, POST → completed"
    measured: str  # e.g. "4.31 s"
    reference: str  # the bound or the peer's figure, e.g. "4.00 s (N·L/C)"
    ratio: str  # e.g. "1.08×"
    target: str  # e.g. "≤ 1.25×"
    met: bool | None  # None: informational, no target
    notes: str = ""


def save(scenario: str, rows: list[Row], *, quick: bool, details: dict | None = None) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{scenario}.json"
    payload = {
        "scenario": scenario,
        "quick": quick,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": [dataclasses.asdict(row) for row in rows],
        "details": details or {},
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


def _load() -> list[dict]:
    results = []
    for key in TITLES:
        path = OUTPUT / f"{key}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    return results


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    pg = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        pg = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}; "
        f"PostgreSQL {pg or '?'}; {platform.system()} {platform.release()}"
    )


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render() -> str:
    results = _load()
    lines = [
        "# Benchmarks",
        "",
        "Figures are ratios measured side by side in one invocation (the bound or the peer",
        "runs on the same machine, same data, minutes apart), so they hold on a noisy machine.",
        "They are produced by `make bench` and never asserted by the test suite.",
        "",
        f"- Machine: {machine()}",
        f"- Written: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "- Reproduce: `make bench` (all scenarios), `make bench SCENARIOS=1` (one),",
        "  `make bench SCENARIOS='1 2' QUICK=1` (smaller N for a quick check).",
        "  PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 must be running;",
        "  the benchmarks use their own database `evalhub_bench`.",
        "",
        "| # | scenario | figure | measured | bound / peer | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        key = result["scenario"]
        title = TITLES.get(key, key) + (" (quick)" if result.get("quick") else "")
        for row in result["rows"]:
            met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
            lines.append(
                "| "
                + " | ".join(
                    _cell(c)
                    for c in (
                        key,
                        title,
                        row["what"],
                        row["measured"],
                        row["reference"],
                        row["ratio"],
                        row["target"],
                        met,
                    )
                )
                + " |"
            )
    notes = [
        (r["scenario"], row["notes"]) for r in results for row in r["rows"] if row.get("notes")
    ]
    if notes:
        lines += ["", "## Notes per scenario", ""]
        lines += [f"- **{key}**: {text}" for key, text in notes]
    details = [(r["scenario"], r["details"]) for r in results if r.get("details")]
    if details:
        lines += ["", "## Run details", ""]
        for key, detail in details:
            lines.append(
                f"- **{key}** (measured {next(r['at'] for r in results if r['scenario'] == key)}): "
                + ", ".join(f"{k} = {v}" for k, v in detail.items())
            )
    if PROFILES.exists():
        lines += ["", PROFILES.read_text().strip()]
    return "\n".join(lines) + "\n"


def write() -> Path:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    return DOC
