"""Every engine the benchmark compares, behind one small interface.

`reply(messages, max_new)` runs one chat turn and reports what the engine did: time to
first token, decode rate and tokens generated. Engines that keep a KV cache between turns
(Hearth, native onnxruntime, ORT GenAI, wllama) keep it until `reset()`, so turn 2 shows
whether they reuse it; `reset(keep_cache=True)` starts a new chat whose prompt may reuse
the cached prefix, as Hearth's page always does (transformers.js then reuses its cache too).
`ready()` times getting the engine ready to answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from playwright.sync_api import Error as PlaywrightError

from bench.server import stopped
from hearth_build.chromium import MODEL_SAVED_JS
from hearth_build.model.genai import read_shape
from hearth_build.model.native import NativeModel
from pyapp.generate import common_prefix
from pyapp.templates import ChatTemplate, Message
from pyapp.tokenizer import Tokenizer

# The page is ready, or has said why it is not.
SETTLED_JS = """() => ["ready", "error"].includes(
  document.querySelector("[data-testid=status]")?.dataset.state)"""


@dataclass(frozen=True)
class Reply:
    text: str
    ttft_s: float
    decode_tok_s: float
    tokens: int


class Engine(Protocol):
    def ready(self, cold: bool) -> float:
        """Seconds until the engine can answer (cold: nothing cached; warm: reopened)."""
        ...

    def ready_offline(self) -> float:
        """Seconds until a page reloaded with its server stopped can answer."""
        ...

    def reply(self, messages: list[Message], max_new: int) -> Reply: ...

    def reset(self, keep_cache: bool = False) -> None: ...


def _rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


class IdsEngine:
    """Shared by engines fed token ids: renders and tokenizes like the page does."""

    def __init__(self, tokenizer: Tokenizer, template: ChatTemplate) -> None:
        self.tokenizer = tokenizer
        self.template = template

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        return self.tokenizer.encode(self.template.render(messages))

    def ready_offline(self) -> float:
        raise Unavailable("a native library, not a page: there is no server to stop")


class NativeOrt(IdsEngine):
    """onnxruntime (Python, CPU) on the page's model file, KV cache kept across turns. The
    cache goes in and out as numpy arrays, copied every step, so decoding slows as the context
    grows (ORT GenAI, the genai row, updates a shared buffer in place instead)."""

    def __init__(self, folder: Path, threads: int, tokenizer: Tokenizer, template: ChatTemplate):
        super().__init__(tokenizer, template)
        self.folder, self.threads = folder, threads
        self.model = NativeModel(folder, threads)
        self.reset()

    def ready(self, cold: bool) -> float:
        started = time.perf_counter()
        self.model = NativeModel(self.folder, self.threads)
        self.reset()
        return time.perf_counter() - started

    def reset(self, keep_cache: bool = False) -> None:
        if not keep_cache:
            self.cached: list[int] = []
            self.cache = self.model.empty_cache()

    def reply(self, messages: list[Message], max_new: int) -> Reply:
        prompt = self.prompt_ids(messages)
        started = time.perf_counter()
        keep = min(common_prefix(self.cached, prompt), len(prompt) - 1)
        self.cache = {k: v[:, :, :keep] for k, v in self.cache.items()}
        logits, self.cache = self.model.forward(prompt[keep:], self.cache, keep)
        self.cached = list(prompt)
        out: list[int] = []
        stamps: list[float] = []
        while len(out) < max_new:
            token = int(np.argmax(logits[-1]))
            stamps.append(time.perf_counter())
            out.append(token)
            logits, self.cache = self.model.forward([token], self.cache, len(self.cached))
            self.cached.append(token)
        return Reply(self.tokenizer.decode(out), stamps[0] - started, _rate(stamps), len(out))


class GenaiInt4(IdsEngine):
    """onnxruntime-genai on the builder's int4 export (what Foundry Local runs natively)."""

    def __init__(self, folder: Path, tokenizer: Tokenizer, template: ChatTemplate) -> None:
        super().__init__(tokenizer, template)
        import onnxruntime_genai as og

        self.og, self.folder = og, folder
        self.model = og.Model(str(folder))
        self.generator: Any = None
        self.cached: list[int] = []

    def ready(self, cold: bool) -> float:
        started = time.perf_counter()
        self.model = self.og.Model(str(self.folder))
        self.reset()
        return time.perf_counter() - started

    def reset(self, keep_cache: bool = False) -> None:
        if not keep_cache:
            self.generator, self.cached = None, []

    def reply(self, messages: list[Message], max_new: int) -> Reply:
        prompt = self.prompt_ids(messages)
        started = time.perf_counter()
        keep = min(common_prefix(self.cached, prompt), len(prompt) - 1)
        if self.generator is None:
            params = self.og.GeneratorParams(self.model)
            # the model's whole context, as the page allows: the 4k-context prompt and its reply
            # must fit (the KV buffer is allocated at this length, shared by past and present)
            context = read_shape(self.folder).context_length
            params.set_search_options(do_sample=False, max_length=context)
            self.generator, keep = self.og.Generator(self.model, params), 0
        elif keep < len(self.cached):
            self.generator.rewind_to(keep)
        self.generator.append_tokens(prompt[keep:])
        self.cached = list(prompt)
        out: list[int] = []
        stamps: list[float] = []
        while len(out) < max_new:
            self.generator.generate_next_token()
            stamps.append(time.perf_counter())
            out.append(int(self.generator.get_next_tokens()[0]))
        self.cached += out
        return Reply(self.tokenizer.decode(out), stamps[0] - started, _rate(stamps), len(out))


class OpenAIStream:
    """An OpenAI-compatible endpoint (Foundry Local, directly or through serve.py's proxy)
    with the official client; every turn sends the whole conversation."""

    def __init__(self, base_url: Callable[[], str], model: str, start: Any = None) -> None:
        self.base_url = base_url  # a callable: a restarted server has a new port
        self.model = model
        self.start = start  # callable timing a fresh server start, for `ready(cold=True)`

    def ready(self, cold: bool) -> float:
        if self.start is None:
            raise Unavailable("the server is started once for the run; see the Foundry row")
        return float(self.start(cold))

    def ready_offline(self) -> float:
        raise Unavailable("it is the server: with it stopped there is nothing to answer")

    def reset(self, keep_cache: bool = False) -> None:
        pass  # every request sends the whole conversation, and the server evaluates all of it

    def reply(self, messages: list[Message], max_new: int) -> Reply:
        return asyncio.run(self._reply(messages, max_new))

    async def _reply(self, messages: list[Message], max_new: int) -> Reply:
        import openai

        client = openai.AsyncOpenAI(base_url=self.base_url(), api_key="unused", max_retries=0)
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model=self.model,
            messages=[{"role": m.role.value, "content": m.content} for m in messages],  # type: ignore[misc]
            temperature=0,
            max_tokens=max_new,
            stream=True,
        )
        stamps: list[float] = []
        text: list[str] = []
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    stamps.append(time.perf_counter())
                    text.append(choice.delta.content)
        await client.close()
        if not stamps:
            raise RuntimeError(f"{self.base_url()} streamed no tokens")
        return Reply("".join(text), stamps[0] - started, _rate(stamps), len(stamps))


class Unavailable(Exception):
    """This engine cannot measure this metric; the message is the reason shown."""


class HearthPage:
    """The real page (dist/ through serve.py's handler) in headless Chromium, driven through
    its DOM like a user; figures come from the reply's data attributes."""

    def __init__(self, browser: Any, url: str, query: str, requests: list[str]) -> None:
        self.browser, self.url, self.query, self.requests = browser, url, query, requests
        self.context: Any = None
        self.page: Any = None
        # the page's own boot breakdown (data-phases) after each timed load, by kind of load
        self.phases: dict[str, list[dict[str, float]]] = {}

    def _new_context(self) -> None:
        if self.context is not None:
            self.context.close()
        self.context = self.browser.new_context()
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        # what the page says of its own boot (say, a Python snapshot it could not use)
        self.page.on(
            "console",
            lambda message: (
                print(f"    page: {message.text}", flush=True)
                if message.text.startswith("Hearth:")
                else None
            ),
        )

    def ready(self, cold: bool) -> float:
        if cold or self.page is None:
            self._new_context()
            started = time.perf_counter()
            self.page.goto(self.url + self.query)
        else:
            started = time.perf_counter()
            self.page.reload()
        return self._ready(started, "cold" if cold else "warm")

    def ready_offline(self) -> float:
        """A reload with the server stopped: the service worker serves the app, the saved
        model and the isolation headers. It must have taken over and saved the model first."""
        if self.page is None:
            raise RuntimeError("ready_offline() reloads a page that ready() opened")
        self.wait_until_saved()
        with stopped(self.url):
            started = time.perf_counter()
            self.page.reload()
            return self._ready(started, "offline")

    def wait_until_saved(self) -> None:
        """Until the service worker controls the page and the model is in its cache: what a
        first visit still does after it is ready."""
        self.page.wait_for_function(MODEL_SAVED_JS, timeout=60_000, polling=250)

    def _ready(self, started: float, kind: str) -> float:
        # polled every frame, as the peers' `window.peers` is: wait_for_selector backs off
        # to a look every 500 ms, which added 0-0.5 s to Hearth's ready times alone
        self.page.wait_for_function(SETTLED_JS, timeout=300_000, polling="raf")
        elapsed = time.perf_counter() - started
        state = self.page.get_attribute("[data-testid=status]", "data-state")
        if state != "ready":
            raise RuntimeError(self.page.inner_text("[data-testid=error]"))
        phases = self.page.get_attribute("[data-testid=status]", "data-phases")
        self.phases.setdefault(kind, []).append(json.loads(phases))
        return elapsed

    def status(self) -> str:
        return str(self.page.inner_text("[data-testid=status]"))

    def close(self) -> None:
        """Close the page, so that a reply still running cannot slow the next row."""
        if self.context is not None:
            self.context.close()
            self.context = self.page = None

    def reset(self, keep_cache: bool = False) -> None:
        """New chat (the page keeps its KV cache either way, for the prefix the next prompt
        shares); the click is handled by Python in the worker, so wait for its effect."""
        self.page.click("[data-testid=new-chat]")
        self.page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=message]').length === 0", timeout=30_000
        )

    def reply(self, messages: list[Message], max_new: int) -> Reply:
        page = self.page
        page.evaluate(
            """(n) => { const box = document.getElementById('setting-max_tokens');
                        box.value = String(n); }""",
            max_new,
        )
        selector = "[data-testid=message][data-role=assistant]"
        before = page.locator(selector).count()
        page.fill("[data-testid=prompt]", messages[-1].content)
        page.press("[data-testid=prompt]", "Enter")
        done = page.locator(f'{selector}[data-done="true"]').nth(before)
        done.wait_for(timeout=600_000)  # a 4k prompt's prefill takes a minute on 2 cores
        return Reply(
            done.inner_text(),
            float(done.get_attribute("data-ttft-ms")) / 1000,
            float(done.get_attribute("data-decode-tok-s")),
            int(done.get_attribute("data-generated")),
        )


class PeerPage:
    """transformers.js or wllama in bench/site/peers.html, same Chromium, same prompts."""

    def __init__(
        self,
        browser: Any,
        url: str,
        engine: str,
        options: dict[str, Any],
        ids: IdsEngine,
        requests: list[str],
    ) -> None:
        self.browser, self.url, self.engine, self.options = browser, url, engine, options
        self.ids, self.requests = ids, requests
        self.context: Any = None
        self.page: Any = None
        self.keep_cache = False

    def ready(self, cold: bool) -> float:
        if cold or self.page is None:
            if self.context is not None:
                self.context.close()
            self.context = self.browser.new_context()
            self.context.on("request", lambda request: self.requests.append(request.url))
            self.page = self.context.new_page()
        started = time.perf_counter()
        self.page.goto(self.url + "peers.html")
        self.page.wait_for_function("window.peers !== undefined")
        self.page.evaluate(f"peers.{self.engine}.load({json.dumps(self.options)})")
        return time.perf_counter() - started

    def ready_offline(self) -> float:
        """Tried, not assumed: reload with the server stopped and load the model again."""
        if self.page is None:
            raise RuntimeError("ready_offline() reloads a page that ready() opened")
        with stopped(self.url):
            started = time.perf_counter()
            try:
                self.page.reload(timeout=30_000)
                self.page.wait_for_function("window.peers !== undefined", timeout=30_000)
                self.page.evaluate(f"peers.{self.engine}.load({json.dumps(self.options)})")
            except PlaywrightError as error:
                first = str(error).strip().splitlines()[0]
                raise Unavailable(f"does not load with the server stopped ({first})") from None
            return time.perf_counter() - started

    def reset(self, keep_cache: bool = False) -> None:
        """wllama reuses the longest common prefix by itself; transformers.js only when asked
        (its `past_key_values`, kept by bench/site/peers.js)."""
        self.keep_cache = keep_cache

    def reply(self, messages: list[Message], max_new: int) -> Reply:
        text = self.ids.template.render(messages)
        request = {
            "promptIds": self.ids.prompt_ids(messages),
            "promptText": text,
            "maxNew": max_new,
            "reuse": self.keep_cache,
        }
        result = self.page.evaluate(f"peers.{self.engine}.generate({json.dumps(request)})")
        return Reply("", result["ttftMs"] / 1000, result["decodeTokS"], result["tokens"])
