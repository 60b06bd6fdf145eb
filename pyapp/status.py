"""The app's coarse state, mirrored by the status line's `data-state` attribute.

Tests and the UI contract rely on exactly these four values.
"""

from enum import StrEnum


class State(StrEnum):
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    ERROR = "error"
