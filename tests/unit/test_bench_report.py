"""The benchmark's report: every row filled or carrying its reason, ratios computed from the
run's own figures, and the README block replaced in place."""

from __future__ import annotations

from pathlib import Path

from bench.report import README_END, README_START, markdown, ratios, write_reports

RESULT = {
    "date": "2026-11-24",
    "machine": {"cpus": 2, "platform": "test", "python": "3.11"},
    "runs": 3,
    "seconds": 1,
    "requests_checked": 7,
    "metrics": {"decode_tok_s": "decode tok/s", "ttft_32_s": "TTFT 32 (s)"},
    "rows": [
        {
            "name": "Hearth (Python in the page, ORT Web)",
            "setting": "WASM, 2 threads",
            "values": {"decode_tok_s": [30.0, 32.0, 31.0], "ttft_32_s": [0.3, 0.2, 0.4]},
            "missing": {},
        },
        {
            "name": "onnxruntime (native CPU, same model file)",
            "setting": "intra_op_num_threads=2",
            "values": {"decode_tok_s": [62.0, 60.0, 64.0]},
            "missing": {"ttft_32_s": "not measured in this run (--quick)"},
        },
        {
            "name": "Hearth (Python in the page, ORT Web)",
            "setting": "WebGPU",
            "values": {},
            "missing": {"decode_tok_s": "no GPU here", "ttft_32_s": "no GPU here"},
        },
    ],
}


def test_table_has_medians_ranges_reasons_and_ratios() -> None:
    table = markdown(RESULT)
    assert "| 31.0 (30.0–32.0) | 0.30 (0.20–0.40) |" in table
    assert "n/a[^1]" in table and "[^1]: not measured in this run (--quick)" in table
    assert "[^2]: no GPU here" in table
    assert (
        "- onnxruntime (native CPU, same model file) [intra_op_num_threads=2]: **0.50×**" in table
    )
    assert ratios(RESULT["rows"]) == [  # type: ignore[arg-type]
        ("onnxruntime (native CPU, same model file) [intra_op_num_threads=2]", 0.5)
    ]


def test_reports_are_written_and_the_readme_block_replaced(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    write_reports(RESULT, tmp_path / "results", readme)
    assert (tmp_path / "results" / "2026-11-24.png").read_bytes()[:4] == b"\x89PNG"
    text = readme.read_text()
    assert "old" not in text and "31.0 (30.0–32.0)" in text
    assert "![Decode speed](results/2026-11-24.png)" in text
    assert text.startswith("intro\n") and text.endswith("rest\n")
