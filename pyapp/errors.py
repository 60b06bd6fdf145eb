"""Every failure the user can see, each with one message that says what to do next."""

from __future__ import annotations


class HearthError(Exception):
    """Base class: `str(error)` is the message shown in the error banner."""


class PromptTooLong(HearthError):
    """`used` is exact up to the counter's cap; beyond it the message says "more than".
    With the model's whole `context` known, the advice is only what can help: a lower max
    tokens frees room only for a message shorter than the context (older turns have been
    dropped already, so a new chat would not help either)."""

    def __init__(
        self,
        used: int,
        budget: int,
        capped: bool = False,
        context: int | None = None,
        files: tuple[str, ...] = (),
        removable: bool = True,
        system: bool = False,
    ) -> None:
        self.used, self.budget, self.capped, self.context = used, budget, capped, context
        self.system = system  # most of it is the system prompt, without which it would fit
        needs = f"more than {used:,}" if capped else f"{used:,}"
        if system:
            super().__init__(
                f"Your message and the system prompt need {needs} tokens but only {budget:,} "
                f"fit in the model's context after room for the reply, and most of that is "
                f"the system prompt. Shorten it in Settings (or choose Use default there)."
            )
            return
        # most of a message this long is what is attached to it, as a rule; only a message
        # being sent can lose a file (an edit or a regenerate keeps the question's files)
        what = f"Your message with {_names(files)}" if files else "Your message"
        if not files:
            shorten = "Shorten it"
        elif removable:
            shorten = "Remove a file or shorten the message"
        else:
            shorten = "Ask it as a new message with less attached"
        if context is None or (not capped and used < context):
            advice = f"{shorten}, or lower max tokens to leave it more room."
        else:
            advice = f"{shorten}: the model's whole context is {context:,} tokens."
        super().__init__(
            f"{what} needs {needs} tokens but only {budget:,} fit in the model's context "
            f"after room for the reply. {advice}"
        )

    def with_files(self, files: tuple[str, ...], removable: bool) -> PromptTooLong:
        """The same refusal, naming the files attached to the message (`removable` from
        the message box)."""
        return PromptTooLong(
            self.used, self.budget, self.capped, self.context, files, removable, self.system
        )


def _names(files: tuple[str, ...]) -> str:
    quoted = [f"“{name}”" for name in files]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


class StoppedEarly(HearthError):
    """Stop came before the reply's first word: the turn is undone, as if never sent (an
    empty "(stopped)" reply would only be clutter, and a chat ending in a question with
    no answer is one some chat templates refuse)."""

    def __init__(self, asked: bool) -> None:
        super().__init__(
            "Stopped before the reply began: your message is back in the message box."
            if asked
            else "Stopped before the new reply began: the previous one is kept."
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
