"""Hearth side by side with native ONNX Runtime, Foundry Local and the in-browser peers:
`python -m bench`.

Every engine answers the same chat prompts (SmolLM2-135M-Instruct, its ChatML template,
greedy) on this machine. After a warm-up, `--runs` measured runs per metric; the table
shows the median with min–max. Writes bench/results/<date>.json, .md and .png, and the
latest table and chart into README.md between its BENCH markers. Fails if any request
left loopback.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import date

from bench.harness import CONTEXT_METHOD, METRICS, RESULTS, Prompts, model_folders
from bench.report import write_reports
from bench.rows import ROW_KEYS, collect
from bench.server import ROOT
from build import default_cache
from hearth_build.chromium import is_local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per metric (median)")
    parser.add_argument(
        "--only", nargs="*", choices=ROW_KEYS, default=None, help="rows to run (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="skip the ready-time metrics")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = parser.parse_args(argv)
    subprocess.run([sys.executable, "build.py"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    skip = {"ready_cold_s", "ready_warm_s", "ready_offline_s"} if args.quick else set()
    page_folder, reference, gguf = model_folders(default_cache())
    prompts = Prompts.build(page_folder)
    sized = [(f"{n}", m) for n, m in prompts.sized.items()]
    sized += [(f"context {n}", m) for n, m in prompts.context.items()]
    print(
        "prompts: " + ", ".join(f"{n} -> {prompts.length(m)} tokens" for n, m in sized), flush=True
    )
    requests: list[str] = []
    started = time.time()
    extras: dict[str, object] = {}
    rows = collect(args, prompts, page_folder, reference, gguf, requests, skip, extras)
    leaked = sorted({u for u in requests if not is_local(u)})
    if leaked:
        print(f"bench: requests left loopback: {leaked}", file=sys.stderr)
        return 1
    result = {
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "runs": args.runs,
        "seconds": round(time.time() - started),
        "requests_checked": len(requests),
        "metrics": METRICS,
        "notes": [CONTEXT_METHOD],
        "rows": [vars(row) for row in rows],
        **extras,
    }
    write_reports(result, RESULTS, None if args.no_readme else ROOT / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
