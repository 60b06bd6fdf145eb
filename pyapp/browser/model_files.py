"""Reading the model's files through the model worker (site/model.js) and checking what
arrived against dist/manifest.json.

Every file the page needs offline goes this way, the tokenizer included: the worker saves
what matches the manifest where the service worker looks for it, so a second visit works
offline even when the first read its files before the service worker controlled the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyodide.ffi import JsException, to_js

from pyapp.browser.host import to_js_object
from pyapp.config import ModelEntry
from pyapp.errors import ModelLoadError


def _unreachable(error: JsException) -> ModelLoadError:
    return ModelLoadError(
        f"Could not download the model ({error}). Check that serve.py is running."
    )


def _check(name: str, want: dict[str, Any], got: Any) -> None:
    """Raise if what arrived is not the file the manifest describes."""
    if got.received != want["size"]:
        raise ModelLoadError(
            f"{name} is truncated ({got.received} of {want['size']} bytes). "
            "Rebuild with `python build.py` and reload."
        )
    if got.sha256 != want["sha256"]:
        raise ModelLoadError(
            f"{name} is corrupted (its sha256 does not match the manifest). "
            "Rebuild with `python build.py --rebuild-model` and reload."
        )


def _asked(url: str, want: dict[str, Any]) -> Any:
    return to_js_object({"url": url, "size": want["size"], "sha256": want["sha256"]})


class ModelFiles:
    """The files a model's session is built from. The bytes stay in the model worker;
    Python holds their URLs."""

    def __init__(self, entry: ModelEntry, base: str) -> None:
        self.urls = {name: base + entry.path + name for name in entry.session_files}
        self.graph = self.urls[entry.graph]
        self.data = {name: self.urls[name] for name in entry.data}
        self.weights = self.urls[entry.weights] if entry.weights else None

    @classmethod
    async def download(
        cls,
        model: Any,
        base: str,
        entry: ModelEntry,
        manifest: dict[str, Any],
        progress: Callable[[float], None],
    ) -> ModelFiles:
        files = cls(entry, base)
        expected = {n: manifest["files"][entry.path + n] for n in files.urls}
        total = sum(f["size"] for f in expected.values())
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            progress(min(done / total, 1.0))

        hook = to_js(advance)
        asked = [_asked(files.urls[n], f) for n, f in expected.items()]
        try:
            results = await model.fetch(to_js(asked), hook)
        except JsException as error:
            raise _unreachable(error) from None
        finally:
            hook.destroy()
        for (name, want), got in zip(expected.items(), results, strict=True):
            _check(name, want, got)
        return files


async def read_text(
    model: Any, base: str, entry: ModelEntry, manifest: dict[str, Any], name: str
) -> str:
    """One of the model's files that Python reads itself (the tokenizer), as text."""
    want = manifest["files"][entry.path + name]
    try:
        got = await model.text(_asked(base + entry.path + name, want))
    except JsException as error:
        raise _unreachable(error) from None
    _check(name, want, got)
    return str(got.text)
