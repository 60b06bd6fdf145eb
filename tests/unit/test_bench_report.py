"""The benchmark's report: every row filled or carrying its reason, ratios computed from the
run's own figures, and the README block replaced in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import README_END, README_START, markdown, ratios, write_reports

RESULT: dict[str, Any] = {
    "date": "2026-11-24",
    "machine": {"cpus": 2, "platform": "test", "python": "3.11"},
    "runs": 3,
    "seconds": 1,
    "requests_checked": 7,
    "metrics": {
        "decode_tok_s": "decode tok/s",
        "decode_1k_tok_s": "decode tok/s, 1k context",
        "decode_4k_tok_s": "decode tok/s, 4k context",
        "ttft_32_s": "TTFT 32 (s)",
        "ready_warm_s": "ready, warm (s)",
    },
    "notes": ["The context columns time 32 decode steps."],
    "rows": [
        {
            "name": "Hearth (Python in the page, ORT Web)",
            "setting": "WASM, 2 threads",
            "values": {
                "decode_tok_s": [30.0, 32.0, 31.0],
                "decode_1k_tok_s": [29.0, 27.9, 30.0],
                "decode_4k_tok_s": [24.8, 25.0, 24.0],
                "ttft_32_s": [0.3, 0.2, 0.4],
                "ready_warm_s": [2.5, 2.4, 2.6],
            },
            "missing": {},
            "phases": {
                "warm": [
                    {"python": 2.5, "session_done": 2.0, "session": 0.0, "python_from_snapshot": 1},
                    {"python": 2.7, "session_done": 2.2, "session": 0.1, "python_from_snapshot": 0},
                ]
            },
        },
        {
            "name": "onnxruntime (native CPU, same model file)",
            "setting": "intra_op_num_threads=2",
            "values": {"decode_tok_s": [62.0, 60.0, 64.0], "decode_1k_tok_s": [45.0]},
            "missing": {
                "ttft_32_s": "not measured in this run (--quick)",
                "decode_4k_tok_s": "not measured in this run (--quick)",
            },
        },
        {
            "name": "Hearth (Python in the page, ORT Web)",
            "setting": "WebGPU",
            "values": {},
            "missing": dict.fromkeys(
                ("decode_tok_s", "decode_1k_tok_s", "decode_4k_tok_s", "ttft_32_s"), "no GPU here"
            ),
        },
    ],
}


def test_table_has_medians_ranges_reasons_and_ratios() -> None:
    table = markdown(RESULT)
    assert "| 31.0 (30.0–32.0) | 29.0 (27.9–30.0), 0.94× | 24.8 (24.0–25.0), 0.80× |" in table
    assert "| 0.30 (0.20–0.40) |" in table  # seconds get no ratio
    assert "| 62.0 (60.0–64.0) | 45.0 (45.0–45.0), 0.73× | n/a[^1] | n/a[^1] |" in table
    assert "n/a[^1]" in table and "[^1]: not measured in this run (--quick)" in table
    assert "[^2]: no GPU here" in table
    assert "none left loopback. The context columns time 32 decode steps." in table
    assert (
        "- onnxruntime (native CPU, same model file) [intra_op_num_threads=2]: **0.50×**" in table
    )
    assert ratios(RESULT["rows"]) == [
        ("onnxruntime (native CPU, same model file) [intra_op_num_threads=2]", 0.5)
    ]


def test_hearth_context_ratios_are_held_to_the_issue_targets() -> None:
    table = markdown(RESULT)
    assert (
        "Hearth [WASM, 2 threads], decode at context over its short-context decode: "
        "1k context **0.94×** (target ≥ 0.9×), 4k context **0.80×** (target ≥ 0.8×)."
    ) in table


def test_a_result_without_context_columns_still_renders() -> None:
    """Older result files (before the context columns) have no notes and no such metrics."""
    old = {
        **RESULT,
        "metrics": {"decode_tok_s": "decode tok/s"},
        "rows": RESULT["rows"][:2],
    }
    del old["notes"]
    table = markdown(old)
    assert "| 31.0 (30.0–32.0) |" in table and "context" not in table


def test_reports_are_written_and_the_readme_block_replaced(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    write_reports(RESULT, tmp_path / "results", readme)
    assert (tmp_path / "results" / "2026-11-24.png").read_bytes()[:4] == b"\x89PNG"
    text = readme.read_text()
    assert "old" not in text and "31.0 (30.0–32.0)" in text
    assert "![Decode speed](results/2026-11-24.png)" in text
    assert text.startswith("intro\n") and text.endswith("rest\n")


def test_hearth_ready_times_and_boot_phases_are_reported() -> None:
    table = markdown(RESULT)
    assert "Hearth [WASM, 2 threads] ready: warm **2.50 s** (target ≤ 2.0 s)." in table
    header = next(line for line in table.splitlines() if line.startswith("| setting | load |"))
    assert "Pyodide loaded (at)" in header and "ORT session created (s)" in header
    # how many loads booted Python from its snapshot, then medians per phase; a phase the
    # loads did not report is a dash
    cells = "1 of 2 | — | 2.60 | — | — | — | — | 2.10 | — | — | — | — | 0.05"
    assert f"| WASM, 2 threads | warm | {cells} |" in table


def test_the_loop_ab_is_reported_as_the_median_of_its_pair_ratios() -> None:
    """Each pair's ratio is taken on its own: the median of the ratios (0.90), not the ratio
    of the medians (30 / 32 = 0.9375), which would mix pairs measured minutes apart."""
    ab = {"threads": 2, "page_tok_s": [27.0, 30.0, 36.0], "bare_tok_s": [30.0, 35.0, 32.0]}
    table = markdown({**RESULT, "loop_ab": ab})
    assert (
        "the page 30.0 (27.0–36.0) tok/s, the bare loop 32.0 (30.0–35.0) tok/s; "
        "the page over the loop, per pair: **0.900 (0.857–1.125)×** (target ≥ 0.95×)."
    ) in table
    assert "2 threads" in table and "3 pairs in ABBA order" in table


def test_a_run_without_table_rows_leaves_the_readme_alone(tmp_path: Path) -> None:
    """`--only loop-ab` fills no row: its table would replace the README's with an empty one."""
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    ab = {"threads": 2, "page_tok_s": [27.0], "bare_tok_s": [30.0]}
    write_reports({**RESULT, "rows": [], "loop_ab": ab}, tmp_path / "results", readme)
    assert "old" in readme.read_text()
    table = (tmp_path / "results" / "2026-11-24.md").read_text()
    assert "**0.900 (0.900–0.900)×**" in table and "| engine |" not in table
