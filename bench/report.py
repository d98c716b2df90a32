"""Results out: a JSON file per run (bench/results/) and a Markdown section appended to docs/benchmark-runs.md.

Where this sits: bench.cli calls `write_json` and `markdown` once every scenario has run. The Markdown
section carries the machine, the date and the commit, then one table per scenario: each figure by size,
ours beside kopf with the ratio ours/kopf, the target and whether it was met; kubesim's own figures
follow each table, so a reader sees the simulator was not the limit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from bench.framework import Figure, ScenarioResult
from bench.machine import one_line

RUNS_TITLE = "# Benchmark runs"
"""The title of the runs document (docs/benchmark-runs.md), written when the document does not exist yet: each run
appends a `## Run ...` section at its end."""


def write_json(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _shown(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _met(figure: Figure, value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    met = figure.met(float(value))
    return "" if met is None else ("yes" if met else "**no**")


def scenario_table(result: ScenarioResult) -> list[str]:
    """The Markdown lines of one scenario."""
    lines = [f"### {result.name}: {result.description}", ""]
    if result.status != "ok":
        detail = result.extra.get("reason", "")
        return [*lines, f"Not measured ({result.status}): {detail}", ""]
    if all(r.size == 0 for r in result.runs):  # an in-process benchmark: figures, no sizes or peers
        lines += ["| figure | value |", "|---|---|"]
        for run in result.runs:
            lines += [
                f"| {key.replace('_', ' ')} | {_value(value)} |" for key, value in run.figures.items() if _shown(value)
            ]
        return [*lines, ""]
    peers = sorted({r.peer for r in result.runs}, key=lambda p: (p != "ours", p))
    sizes = sorted({r.size for r in result.runs})
    both = "ours" in peers and "kopf" in peers
    header = ["figure", "N", *peers]
    if both:
        header.append("ours/kopf")
    header += ["target", "met (ours)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ratios = result.ratios()
    for figure in result.figures:
        for size in sizes:
            runs = {r.peer: r for r in result.runs if r.size == size}
            values = [runs[p].figures.get(figure.key) if p in runs else None for p in peers]
            if all(v is None for v in values):
                continue
            label = f"{figure.label}" + (f" ({figure.unit})" if figure.unit else "")
            row = [label, f"{size:,}", *(_value(v) for v in values)]
            if both:
                row.append(_value(ratios.get(str(size), {}).get(figure.key)))
            ours = runs.get("ours")
            row += [figure.target_text(), _met(figure, ours.figures.get(figure.key)) if ours else ""]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for run in result.runs:
        if run.kubesim:
            shown = ", ".join(f"{k} {_value(v)}" for k, v in run.kubesim.items())
            lines.append(f"- kubesim beside {run.peer} N={run.size:,}: {shown}")
        if run.background_cores is not None and run.background_cores >= 0.1:
            lines.append(
                f"- while {run.peer} N={run.size:,} was measured, other processes on the machine used "
                f"{run.background_cores:.2f} cores"
            )
        if run.error:
            lines.append(f"- **{run.peer} N={run.size:,} failed**: {run.error.splitlines()[0][:300]}")
        for note in run.notes:
            lines.append(f"- {run.peer} N={run.size:,}: {note}")
    lines.append("")
    return lines


def markdown(document: dict[str, Any], results: list[ScenarioResult]) -> str:
    """The section one run appends to docs/benchmark-runs.md."""
    machine = document["machine"]
    lines = [
        f"## Run {machine['date']}, commit `{machine['commit']}`{' (quick mode)' if document.get('quick') else ''}",
        "",
        f"Machine: {one_line(machine)}.",
        f"Command: `{document['command']}`. kubesim: {document['kubesim']}.",
        "",
    ]
    for result in results:
        lines += scenario_table(result)
    return "\n".join(lines).rstrip() + "\n"


def append_markdown(path: Path, section: str) -> None:
    """Append a run's section at the end of the runs document (created with its title if missing)."""
    text = path.read_text() if path.exists() else f"{RUNS_TITLE}\n"
    path.write_text(text.rstrip() + "\n\n" + section)
