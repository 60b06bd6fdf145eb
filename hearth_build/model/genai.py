"""Reading an ORT GenAI model folder's `genai_config.json` (the fields Hearth needs)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shape:
    """What a decoding loop must know: KV-cache geometry, stop ids, context and vocab size."""

    layers: int
    kv_heads: int
    head_size: int
    eos: tuple[int, ...]
    context_length: int
    vocab_size: int

    @classmethod
    def read(cls, folder: Path) -> Shape:
        model = json.loads((folder / "genai_config.json").read_text())["model"]
        decoder = model["decoder"]
        eos = model["eos_token_id"]
        return cls(
            layers=decoder["num_hidden_layers"],
            kv_heads=decoder["num_key_value_heads"],
            head_size=decoder["head_size"],
            eos=tuple(eos) if isinstance(eos, list) else (eos,),
            context_length=model["context_length"],
            vocab_size=model["vocab_size"],
        )

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["eos"] = list(self.eos)
        return data
