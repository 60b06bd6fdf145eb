"""Benchmark output: the raw JSON, a Markdown table with ratios, a PNG chart, and the
README's copy of the latest table and chart."""

from __future__ import annotations

import json
import re
import statistics
import textwrap
from pathlib import Path
from typing import Any

README_START = "<!-- BENCH:START -->"
README_END = "<!-- BENCH:END -->"
HEARTH = "Hearth"
LOWER_IS_BETTER = "_s"  # metrics in seconds; decode_tok_s is the one rate


def median(values: list[float]) -> float:
    return statistics.median(values)


def cell(row: dict[str, Any], metric: str) -> str:
    values = row["values"].get(metric)
    if not values:
        return "—"
    digits = 1 if metric == "decode_tok_s" else 2
    mid, low, high = median(values), min(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def best_hearth(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    hearth = [r for r in rows if r["name"].startswith(HEARTH) and r["values"].get("decode_tok_s")]
    return max(hearth, key=lambda r: median(r["values"]["decode_tok_s"]), default=None)


def ratios(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Hearth's best decode rate over every other row's."""
    best = best_hearth(rows)
    if best is None:
        return []
    ours = median(best["values"]["decode_tok_s"])
    return [
        (f"{r['name']} [{r['setting']}]", ours / median(r["values"]["decode_tok_s"]))
        for r in rows
        if r is not best and r["values"].get("decode_tok_s")
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
        f"{result['requests_checked']} browser requests checked: none left loopback.",
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
    lines += [""] + [f"[^{i}]: {why}" for i, why in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if r["values"].get("decode_tok_s")]
    labels = [f"{r['name']}\n[{textwrap.shorten(r['setting'], 44, placeholder='…')}]" for r in rows]
    values = [median(r["values"]["decode_tok_s"]) for r in rows]
    lows = [v - min(r["values"]["decode_tok_s"]) for v, r in zip(values, rows, strict=True)]
    highs = [max(r["values"]["decode_tok_s"]) - v for v, r in zip(values, rows, strict=True)]
    colors = ["#e8692c" if r["name"].startswith(HEARTH) else "#8a8178" for r in rows]
    figure, axis = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.2))
    axis.barh(labels, values, xerr=[lows, highs], color=colors)
    axis.invert_yaxis()
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
    if readme is not None:
        text = readme.read_text()
        image = stem.with_suffix(".png").relative_to(readme.parent).as_posix()
        block = f"{README_START}\n{table}\n![Decode speed]({image})\n{README_END}"
        pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
        if not pattern.search(text):
            raise SystemExit(f"{readme} has no {README_START} … {README_END} markers")
        readme.write_text(pattern.sub(lambda _: block, text))
        print(f"updated {readme}")
