"""What the Python loop costs, measured in one sitting: `python -m bench --only loop-ab`.

The table's Hearth row and its bare-JS-loop row are measured minutes apart, on a machine
whose speed drifts by 10% within an hour, so their ratio mixes that drift into the cost of
driving the decoder from Python. Here the two alternate in one Chromium, in ABBA order (page,
loop, loop, page, ...), each in a browser context of its own that is closed before the other
opens, both on the same prompts; the figure is the median of the pairs' ratios.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.engines import HearthPage
from bench.harness import DECODE_TOKENS, STORY, Prompts
from bench.ort_loop import loop_page, run_prompts
from pyapp.templates import Message, Role

TARGET = 0.95  # issue #13: the Python loop at least 0.95x the bare JS loop


@dataclass
class LoopAB:
    threads: int
    page_tok_s: list[float] = field(default_factory=list)
    bare_tok_s: list[float] = field(default_factory=list)


def story(run: int) -> list[Message]:
    """The benchmark's decode prompt with a first line of its own, so that neither side can
    reuse more than the system prompt from the reply before."""
    return [*Prompts.chat(STORY)[:-1], Message(Role.USER, f"Run {run}.\n{STORY}")]


def measure_loop_ab(
    browser: Any,
    url: str,
    folder: Path,
    prompts: Prompts,
    pairs: int,
    threads: int,
    requests: list[str],
) -> LoopAB:
    """`pairs` page/loop pairs. Each side answers two prompts per turn and only the second
    is timed: the first reply after a page opens may run while V8 still compiles kernels.
    `url` serves dist/ at the root, bench/site at bench/ and the page's model folder at
    models/page/ (as bench.rows mounts them)."""
    result = LoopAB(threads)
    runs = iter(range(1_000_000))

    def page_side() -> float:
        page = HearthPage(browser, url, f"?temperature=0&threads={threads}", requests)
        try:
            page.ready(cold=True)
            # then a reload, as a returning user has it: a first visit precaches the app and
            # stores the model while it runs, which would compete with its replies
            page.wait_until_saved()
            page.ready(cold=False)
            for _ in range(2):  # the second reply is the one timed
                page.reset()
                reply = page.reply(story(next(runs)), DECODE_TOKENS)
                if reply.tokens < DECODE_TOKENS:
                    raise RuntimeError(f"the page's reply ended after {reply.tokens} tokens")
            return reply.decode_tok_s
        finally:
            page.close()

    def bare_side() -> float:
        context = browser.new_context()
        context.on("request", lambda request: requests.append(request.url))
        try:
            page = loop_page(context, url, "bench/ort_loop.html")
            ids = [
                prompts.tokenizer.encode(prompts.template.render(story(next(runs))))
                for _ in range(2)
            ]
            _, second = run_prompts(page, "page", folder, ids, DECODE_TOKENS + 1, threads)
            return second.decode_tok_s
        finally:
            context.close()

    for pair in range(pairs):
        sides = (page_side, bare_side) if pair % 2 == 0 else (bare_side, page_side)
        rates = {side: side() for side in sides}
        result.page_tok_s.append(rates[page_side])
        result.bare_tok_s.append(rates[bare_side])
        print(
            f"  pair {pair + 1}: page {rates[page_side]:.1f}, bare loop {rates[bare_side]:.1f} "
            f"tok/s ({rates[page_side] / rates[bare_side]:.3f}x)",
            flush=True,
        )
    return result


def summary(ab: dict[str, Any]) -> str:
    """The report's paragraph for a stored `LoopAB` (its fields, as the result JSON has them)."""
    ratios = [p / b for p, b in zip(ab["page_tok_s"], ab["bare_tok_s"], strict=True)]

    def spread(values: list[float], digits: int) -> str:
        mid = statistics.median(values)
        return f"{mid:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    return (
        f"The Python loop against the bare JS loop in one sitting (`--only loop-ab`: "
        f"{len(ratios)} pairs in ABBA order, WASM, {ab['threads']} threads, "
        f"{DECODE_TOKENS}-token replies, each side in a fresh browser context, the page "
        f"reloaded once): the page "
        f"{spread(ab['page_tok_s'], 1)} tok/s, the bare loop {spread(ab['bare_tok_s'], 1)} "
        f"tok/s; the page over the loop, per pair: **{spread(ratios, 3)}×** "
        f"(target ≥ {TARGET}×)."
    )
