"""Every failure the user can see, each with one message that says what to do next."""

from __future__ import annotations


class HearthError(Exception):
    """Base class: `str(error)` is the message shown in the error banner."""


class PromptTooLong(HearthError):
    """`used` is exact up to the counter's cap; beyond it the message says "more than"."""

    def __init__(self, used: int, budget: int, capped: bool = False) -> None:
        self.used, self.budget = used, budget
        needs = f"more than {used}" if capped else f"{used}"
        super().__init__(
            f"Your message needs {needs} tokens but only {budget} fit in the model's context "
            "after room for the reply. Shorten it, lower max tokens, or start a new chat."
        )


class ModelLoadError(HearthError):
    """The model could not be downloaded, verified or opened."""


class EngineError(HearthError):
    """ONNX Runtime failed while generating."""


class RemoteError(HearthError):
    """A Foundry Local / OpenAI-compatible server could not be used. `unreachable` when it
    is not answering at all, which is when the page offers the in-browser model instead."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class StorageError(HearthError):
    """The browser refused to keep something (storage full, disabled or unavailable)."""
