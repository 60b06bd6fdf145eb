"""Which converter takes a GGUF, the one-line refusal when the one it needs is not installed,
and the model cache: a rerun is a lookup, a changed converter converts into a new entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hearth_build.console import BuildError
from hearth_build.model import convert
from hearth_build.model.convert import Converter, choose_converter, prepare_model
from hearth_build.model.gguf_reader import GGUFModel
from tests.unit.tiny_gguf import write_llama


def test_another_architecture_is_refused_in_one_line_naming_the_extra(tmp_path: Path) -> None:
    write_llama(tmp_path / "tiny-qwen2.gguf", arch="qwen2")
    with pytest.raises(BuildError) as refused:
        choose_converter(GGUFModel(tmp_path / "tiny-qwen2.gguf"), builder_installed=False)
    message = str(refused.value)
    assert "\n" not in message
    assert "architecture 'qwen2'" in message
    assert "pip install -e '.[convert-hf]'" in message


def test_another_architecture_converts_the_heavy_way_when_it_is_installed(tmp_path: Path) -> None:
    write_llama(tmp_path / "tiny-qwen2.gguf", arch="qwen2")
    gguf = GGUFModel(tmp_path / "tiny-qwen2.gguf")
    assert choose_converter(gguf, builder_installed=True) is Converter.BUILDER


@pytest.mark.parametrize(
    ("options", "gap"),
    [
        ({}, None),
        ({"tokenizer": "llama"}, "tokenizer 'llama'"),
        ({"extra": ("output.weight",)}, "tensors output.weight"),
    ],
)
def test_the_direct_converter_takes_only_the_llamas_it_covers(
    tmp_path: Path, options: dict[str, object], gap: str | None
) -> None:
    write_llama(tmp_path / "tiny.gguf", **options)  # type: ignore[arg-type]
    gguf = GGUFModel(tmp_path / "tiny.gguf")
    assert gguf.gap() == gap
    if gap is None:
        assert choose_converter(gguf, builder_installed=True) is Converter.DIRECT


def test_a_file_that_is_not_a_whole_gguf_is_one_line(tmp_path: Path) -> None:
    write_llama(tmp_path / "whole.gguf")
    truncated = (tmp_path / "whole.gguf").read_bytes()[:1000]
    for name, content in {"notes.gguf": b"not a model", "cut.gguf": truncated}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BuildError, match=f"{name}: not a readable GGUF file") as bad:
            GGUFModel(tmp_path / name)
        assert "\n" not in str(bad.value)


def test_conversions_are_cached_until_the_converter_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf, cache = tmp_path / "tiny.gguf", tmp_path / "cache"
    write_llama(gguf)
    page, info = prepare_model(gguf, cache, rebuild=False)
    assert info["converter"] == "direct"
    names = {p.name for p in page.iterdir()}
    assert {"model.onnx", "model.onnx.data", "model.page.onnx", "genai_config.json"} <= names
    assert {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"} <= names
    assert (page.parent / "reference" / "model.onnx").exists()

    capsys.readouterr()
    assert prepare_model(gguf, cache, rebuild=False)[0] == page
    assert "model cache hit" in capsys.readouterr().out

    # any module of the package, even one no list names, is part of the key
    package = tmp_path / "package"
    shutil.copytree(convert.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "new_module.py").write_text('"""Not imported by anything yet."""\n')
    monkeypatch.setattr(convert, "PACKAGE", package)
    moved, moved_info = prepare_model(gguf, cache, rebuild=False)
    assert moved_info["key"] != info["key"]
    assert "exporting fp32 ONNX from the GGUF" in capsys.readouterr().out
    assert moved.exists() and not page.parent.exists()  # the outdated entry is gone
