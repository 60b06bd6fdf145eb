"""The shipped model's own chat template, rendered by Hearth, equals transformers'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyapp.templates import ChatTemplate, chat_spec
from tests.model.test_template_families import CONVERSATIONS, assert_matches_transformers, typed


@pytest.fixture(scope="module")
def model_folder(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    return dist / config["models"][0]["path"]


def test_shipped_smollm2_template_matches_transformers(dist: Path, model_folder: Path) -> None:
    from transformers import AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(model_folder)
    spec = chat_spec(model_folder)
    assert_matches_transformers(
        hf_tokenizer, spec["template"], spec["special_tokens"], CONVERSATIONS
    )
    template = ChatTemplate.from_spec(spec)
    assert template.stop_strings == ("<|im_end|>",)
    # SmolLM2 injects its own default system prompt when the chat has none.
    assert template.render(typed([("user", "hi")])).startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"
    )
    published = json.loads((dist / "app-config.json").read_text())["models"][0]["chat"]
    assert published == spec
