"""Rendering a conversation with the model's own chat template.

Chat templates are Jinja programs, so we run them with Jinja (vendored into the page as a
pinned wheel) in the same sandboxed environment transformers' `apply_chat_template` uses:
trim_blocks/lstrip_blocks, loop controls, its `tojson`, `raise_exception` and
`strftime_now`. That renders every family (ChatML/SmolLM2, Qwen2.5, Phi-3/4, Llama-3, ...)
exactly as the model was trained, instead of re-implementing each family by hand; the tests
compare the output with transformers on real templates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyapp.errors import HearthError

if TYPE_CHECKING:
    import jinja2


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


class TemplateError(HearthError):
    """The model ships no usable chat template, or its template refused a conversation."""


# The special-token names transformers hands to every template (`{{ bos_token }}`, ...).
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")
_PROBE = "\x00hearth-probe\x00"


def chat_spec(folder: Path) -> dict[str, Any]:
    """The template source and special tokens of an HF-style model folder.

    transformers writes the template to `chat_template.jinja` (recent) or into
    `tokenizer_config.json` (older); special tokens may be plain strings or AddedToken dicts.
    """
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    template_path = folder / "chat_template.jinja"
    source = template_path.read_text() if template_path.exists() else config.get("chat_template")
    if isinstance(source, list):  # named templates: [{"name": "default", "template": ...}, ...]
        source = next((t["template"] for t in source if t.get("name") == "default"), None)
    if not isinstance(source, str) or not source.strip():
        raise TemplateError(
            f"{folder} has no chat template (chat_template.jinja or tokenizer_config.json): "
            "ship an instruct/chat model, not a base model."
        )
    tokens = {}
    for name in SPECIAL_TOKENS:
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            tokens[name] = value
    return {"template": source, "special_tokens": tokens}


def _environment() -> jinja2.Environment:
    """A sandbox like transformers': chat templates are untrusted code from a model file."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        """`{% generation %}…{% endgeneration %}` marks training targets; it renders its body."""

        tags = {"generation"}

        def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            call = self.call_method("_body")
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            return str(caller())

    def raise_exception(message: str) -> None:
        raise TemplateError(
            f"the model's chat template refused this conversation: {message}. "
            "Change it (for example clear the system prompt in Settings) and send again."
        )

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


class ChatTemplate:
    """A compiled chat template plus the special tokens it refers to."""

    def __init__(self, source: str, special_tokens: Mapping[str, str] | None = None) -> None:
        import jinja2

        try:
            self._compiled = _environment().from_string(source)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(
                f"the model's chat template does not parse (line {error.lineno}: {error.message}); "
                "rebuild with a model whose tokenizer_config.json has a valid template."
            ) from error
        self.special_tokens = dict(special_tokens or {})

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ChatTemplate:
        return cls(spec["template"], spec.get("special_tokens"))

    @classmethod
    def from_folder(cls, folder: Path) -> ChatTemplate:
        return cls.from_spec(chat_spec(folder))

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        import jinja2

        plain = [{"role": m.role.value, "content": m.content} for m in messages]
        try:
            return self._compiled.render(
                messages=plain,
                tools=None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **self.special_tokens,
            )
        except jinja2.TemplateError as error:
            raise TemplateError(f"the model's chat template failed: {error}") from error

    @cached_property
    def stop_strings(self) -> tuple[str, ...]:
        """The first line the template writes after an assistant message, e.g. `<|im_end|>`,
        `<|eot_id|>` or `<|end|>`: the model says it to end its turn, so generation stops on it.

        Found by rendering a probe reply rather than by naming families, so any template
        whose prompt is a prefix of the finished turn is covered.
        """
        question = [Message(Role.USER, "?")]
        prompt = self.render(question, add_generation_prompt=True)
        turn = self.render(
            [*question, Message(Role.ASSISTANT, _PROBE)], add_generation_prompt=False
        )
        if not turn.startswith(prompt) or _PROBE not in turn:
            return ()
        after = turn[turn.index(_PROBE) + len(_PROBE) :]
        end = next((line.strip() for line in after.splitlines() if line.strip()), "")
        return (end,) if end else ()
