"""Every failure the user can see, each with one message that says what to do next."""

from __future__ import annotations


class HearthError(Exception):
    """Base class: `str(error)` is the message shown in the error banner."""


class PromptTooLong(HearthError):
    def __init__(self, used: int, budget: int) -> None:
        self.used, self.budget = used, budget
        super().__init__(
            f"Your message needs {used} tokens but only {budget} fit in the model's context "
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
