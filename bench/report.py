"""Benchmark output: the raw JSON, a Markdown table with ratios, a PNG chart, and the
README's copy of the latest table and chart."""

from __future__ import annotations

import json
import re
import statistics
import textwrap
from pathlib import Path
from typing import Any

from bench import loop_ab

README_START = "<!-- BENCH:START -->"
README_END = "<!-- BENCH:END -->"
HEARTH = "Hearth"
SHORT = "decode_tok_s"  # decode after a short prompt; every other `*_tok_s` is at a context
# Issue #13's targets: Hearth's decode at context over its own short-context decode.
TARGETS = {"decode_1k_tok_s": ("1k context", 0.9), "decode_4k_tok_s": ("4k context", 0.8)}
# Issue #12's targets for Hearth's ready time, in seconds.
READY_TARGETS = {
    "ready_cold_s": ("cold", 6.0),
    "ready_warm_s": ("warm", 2.0),
    "ready_offline_s": ("offline", 2.5),
}
# The page's boot breakdown (data-phases, pyapp/browser/main.py), in the order it happens:
# the model worker's early steps (site/model.js) run beside Pyodide's boot and are times
# from its start ("at"), or durations ("s"); the rest are how long Python spent on each
# step, or waited for it.
PHASES = {
    "python_from_snapshot": "Python from its snapshot (loads)",
    "pyodide_loaded": "Pyodide loaded (at)",
    "python": "app imported (at)",
    "runtime_ready": "ORT runtime up (at)",
    "model_bytes_done": "model read (at)",
    "weights_unpack_s": "weights rebuilt (s)",
    "session_create_s": "ORT session created (s)",
    "session_done": "session ready (at)",
    "session_taken": "Python took it (at)",
    "tokenizer": "tokenizer",
    "template": "jinja2 + template",
    "model_bytes": "wait: model hashes",
    "session": "wait: session",
}


def median(values: list[float]) -> float:
    return statistics.median(values)


def is_rate(metric: str) -> bool:
    return metric.endswith("_tok_s")


def slowdown(row: dict[str, Any], metric: str) -> float | None:
    """The row's median decode rate at a context over its own short-context one."""
    at, short = row["values"].get(metric), row["values"].get(SHORT)
    return median(at) / median(short) if at and short else None


def cell(row: dict[str, Any], metric: str) -> str:
    values = row["values"].get(metric)
    if not values:
        return "—"
    digits = 1 if is_rate(metric) else 2
    mid, low, high = median(values), min(values), max(values)
    text = f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"
    ratio = slowdown(row, metric) if is_rate(metric) and metric != SHORT else None
    return text if ratio is None else f"{text}, {ratio:.2f}×"


def best_hearth(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    hearth = [r for r in rows if r["name"].startswith(HEARTH) and r["values"].get(SHORT)]
    return max(hearth, key=lambda r: median(r["values"][SHORT]), default=None)


def ratios(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Hearth's best decode rate over every other row's."""
    best = best_hearth(rows)
    if best is None:
        return []
    ours = median(best["values"][SHORT])
    return [
        (f"{r['name']} [{r['setting']}]", ours / median(r["values"][SHORT]))
        for r in rows
        if r is not best and r["values"].get(SHORT)
    ]


def markdown(result: dict[str, Any]) -> str:
    rows, metrics = result["rows"], result["metrics"]
    machine = result["machine"]
    lines = [
        f"Measured by `python -m bench` on {result['date']} ({machine['cpus']} CPUs, "
        f"{machine['platform']}, no GPU unless a row says so), {result['seconds']} s. "
        f"Median (min–max) of {result['runs']} runs after one warm-up. Every engine runs "
        "SmolLM2-135M-Instruct greedily on the same chat prompts; the in-browser rows run in "
        "the same headless Chromium. "
        f"{result['requests_checked']} browser requests checked: none left loopback."
        + "".join(f" {note}" for note in result.get("notes", [])),
    ]
    if rows:
        lines += [
            "",
            "| engine | setting | " + " | ".join(metrics.values()) + " |",
            "| --- | --- |" + " ---: |" * len(metrics),
        ]
    notes: list[str] = []
    for row in rows:
        cells = []
        for metric in metrics:
            why = row["missing"].get(metric)
            if why and not row["values"].get(metric):
                if why not in notes:
                    notes.append(why)
                cells.append(f"n/a[^{notes.index(why) + 1}]")
            else:
                cells.append(cell(row, metric))
        lines.append(f"| {row['name']} | {row['setting']} | " + " | ".join(cells) + " |")
    best = best_hearth(rows)
    if best is not None:
        lines += ["", f"Decode tok/s ratios, Hearth [{best['setting']}] over:", ""]
        lines += [f"- {name}: **{ratio:.2f}×**" for name, ratio in ratios(rows)]
    for row in rows:
        kept = [
            f"{label} **{ratio:.2f}×** (target ≥ {target}×)"
            for metric, (label, target) in TARGETS.items()
            if metric in metrics and (ratio := slowdown(row, metric)) is not None
        ]
        if row["name"].startswith(HEARTH) and kept:
            lines += [
                "",
                f"Hearth [{row['setting']}], decode at context over its short-context decode: "
                + ", ".join(kept)
                + ".",
            ]
    for row in rows:
        reached = [
            f"{label} **{median(values):.2f} s** (target ≤ {target} s)"
            for metric, (label, target) in READY_TARGETS.items()
            if (values := row["values"].get(metric))
        ]
        if row["name"].startswith(HEARTH) and reached:
            lines += ["", f"Hearth [{row['setting']}] ready: " + ", ".join(reached) + "."]
    if "loop_ab" in result:
        lines += ["", loop_ab.summary(result["loop_ab"])]
    lines += phase_table(rows)
    lines += [""] + [f"[^{i}]: {why}" for i, why in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def phase_table(rows: list[dict[str, Any]]) -> list[str]:
    """Hearth's boot, phase by phase (median seconds over the timed loads of each kind):
    what the ready times are made of."""
    measured = [r for r in rows if r["name"].startswith(HEARTH) and r.get("phases")]
    if not measured:
        return []
    lines = [
        "",
        'Hearth\'s boot, phase by phase (median s). "(at)" is when a step ended, in seconds '
        "from the start of Python's worker; the model worker's steps run beside Pyodide's "
        'boot. "(s)" is how long a step took; the last four are how long Python spent on '
        "each step after its boot, or waited for it.",
        "",
        "| setting | load | " + " | ".join(PHASES.values()) + " |",
        "| --- | --- |" + " ---: |" * len(PHASES),
    ]
    for row in measured:
        for kind, loads in row["phases"].items():
            cells = [phase_cell(k, [p[k] for p in loads if k in p]) for k in PHASES]
            lines.append(f"| {row['setting']} | {kind} | " + " | ".join(cells) + " |")
    return lines


def phase_cell(key: str, found: list[float]) -> str:
    if not found:
        return "—"
    if key == "python_from_snapshot":  # a yes or no per load
        return f"{sum(1 for v in found if v)} of {len(found)}"
    return f"{median(found):.2f}"


def chart(result: dict[str, Any], path: Path) -> None:
    """Horizontal bars per row: decode after a short prompt, then at each context (paler)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rates = [m for m in result["metrics"] if is_rate(m)]
    rows = [r for r in result["rows"] if any(r["values"].get(m) for m in rates)]
    labels = [f"{r['name']}\n[{textwrap.shorten(r['setting'], 44, placeholder='…')}]" for r in rows]
    figure, axis = plt.subplots(figsize=(9, (0.15 + 0.2 * len(rates)) * len(rows) + 1.4))
    height = 0.8 / len(rates)
    shades = [1.0 - 0.3 * i for i in range(len(rates))]
    for i, metric in enumerate(rates):
        drawn = [(y, r) for y, r in enumerate(rows) if r["values"].get(metric)]
        values = [median(r["values"][metric]) for _, r in drawn]
        lows = [v - min(r["values"][metric]) for v, (_, r) in zip(values, drawn, strict=True)]
        highs = [max(r["values"][metric]) - v for v, (_, r) in zip(values, drawn, strict=True)]
        axis.barh(
            [y + (i - (len(rates) - 1) / 2) * height for y, _ in drawn],
            values,
            height=height,
            xerr=[lows, highs],
            color=["#e8692c" if r["name"].startswith(HEARTH) else "#8a8178" for _, r in drawn],
            alpha=shades[i],
            error_kw={"elinewidth": 0.8},
        )
    axis.set_yticks(range(len(rows)), labels)
    axis.invert_yaxis()
    axis.legend(
        handles=[
            Patch(color="#8a8178", alpha=shade, label=result["metrics"][m])
            for m, shade in zip(rates, shades, strict=True)
        ],
        fontsize=7,
        loc="lower right",
    )
    axis.set_xlabel("decode tokens/s (median, min–max); higher is better")
    axis.set_title(f"SmolLM2-135M-Instruct decode speed, {result['date']}")
    axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_reports(result: dict[str, Any], folder: Path, readme: Path | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / result["date"]
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    stem.with_suffix(".md").write_text(table)
    chart(result, stem.with_suffix(".png"))
    print(table)
    print(f"wrote {stem}.json, .md and .png")
    if readme is not None and not result["rows"]:
        print(f"no table rows in this run: {readme} left alone")
    elif readme is not None:
        text = readme.read_text()
        image = stem.with_suffix(".png").relative_to(readme.parent).as_posix()
        block = f"{README_START}\n{table}\n![Decode speed]({image})\n{README_END}"
        pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
        if not pattern.search(text):
            raise SystemExit(f"{readme} has no {README_START} … {README_END} markers")
        readme.write_text(pattern.sub(lambda _: block, text))
        print(f"updated {readme}")
