"""What rendering Markdown while a reply streams costs in decode speed:
`python -m bench.markdown_cost`.

The same page, model and greedy prompt (a code-heavy reply of up to 512 tokens), with
Markdown on and with `?markdown=0` (plain text), runs interleaved A/B, B/A, ... so that a
neighbour on the machine slows both alike. Only one page is open at a time: with both open,
whichever was opened last decoded 5-6% faster whatever it ran (2026-12-02), which would
pass for a difference between the modes. Prints each run, the medians and their ratio; the
target is at least 0.95x. The figure comes from the reply's own `data-decode-tok-s`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from bench.engines import HearthPage
from bench.harness import chromium
from bench.server import ROOT, bench_server
from hearth_build.chromium import is_local
from pyapp.templates import Message, Role

PROMPT = (
    "Write a long Python module for a to-do list app: a dataclass, a class with ten "
    "methods, a command-line interface and unit tests. Use code blocks and a table."
)
MAX_TOKENS = 512
QUERY = f"?temperature=0&max_tokens={MAX_TOKENS}"
MODES = {"Markdown": "", "plain text": "&markdown=0"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (median)")
    args = parser.parse_args(argv)
    subprocess.run([sys.executable, "build.py"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    requests: list[str] = []
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    with bench_server({"": ROOT / "dist"}) as url, chromium(webgpu=False) as browser:
        for run in range(args.runs):
            modes = list(MODES.items())
            for mode, extra in modes if run % 2 == 0 else modes[::-1]:
                page = HearthPage(browser, url, f"{QUERY}{extra}", requests)
                page.ready(cold=True)
                # warm-up: a fresh page's first reply also pays for V8 tiering up the WASM
                page.reply([Message(Role.USER, PROMPT)], 64)
                page.reset()
                reply = page.reply([Message(Role.USER, PROMPT)], MAX_TOKENS)
                page.close()
                rates[mode].append(reply.decode_tok_s)
                code = reply.text.count("\n")
                print(
                    f"run {run + 1} {mode:>10}: {reply.decode_tok_s:5.1f} tok/s, "
                    f"{reply.tokens} tokens, {code} lines",
                    flush=True,
                )
    leaked = sorted({u for u in requests if not is_local(u)})
    if leaked:
        print(f"bench: requests left loopback: {leaked}", file=sys.stderr)
        return 1
    on, off = (statistics.median(rates[mode]) for mode in MODES)
    print(
        f"median decode: Markdown {on:.1f} tok/s, plain text {off:.1f} tok/s, ratio {on / off:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
