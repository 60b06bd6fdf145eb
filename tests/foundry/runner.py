"""Serve a local ORT GenAI model folder with the real Foundry Local runtime.

Runs under its own virtual environment (foundry-local-sdk pins onnxruntime 1.31, which
must not meet the build's onnxruntime), so it imports nothing from Hearth. It prints one
JSON line, `{"url", "base", "model", "alias"}`, once the web service answers, and serves
until stdin closes or it is terminated.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from foundry_local_sdk import (
    CatalogType,
    Configuration,
    FoundryLocalManager,
    ModelInfoBuilder,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="ORT GenAI model folder")
    parser.add_argument("--model-id", required=True, help="<name>:<version>")
    parser.add_argument("--data-dir", type=Path, required=True, help="Foundry's own state")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    config = Configuration(
        app_name="hearth_tests",
        app_data_dir=str(args.data_dir / "app"),
        model_cache_dir=str(args.data_dir / "models"),
        logs_dir=str(args.data_dir / "logs"),
        web=Configuration.WebService(urls="http://127.0.0.1:0"),
        disable_nonessential_telemetry=True,
    )
    FoundryLocalManager.initialize(config)
    manager = FoundryLocalManager.instance
    catalog = manager.get_catalog(CatalogType.LOCAL)
    # Registrations persist in the data dir: reuse one that points at this folder.
    model = catalog.get_model_variant(args.model_id)
    if model is not None and Path(model.get_path()).resolve() != args.model_dir.resolve():
        catalog.unregister_model(args.model_id)
        model = None
    if model is None:
        metadata = ModelInfoBuilder().set_string_property("task", "chat-completion")
        model = catalog.register_model(args.model_dir, args.model_id, metadata)
    model.load()
    manager.start_web_service()
    url = manager.urls[0].rstrip("/")
    print(
        json.dumps(
            {"url": url, "base": f"{url}/catalogs/local", "model": model.id, "alias": model.alias}
        ),
        flush=True,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    manager.stop_web_service()
    return 0


if __name__ == "__main__":
    sys.exit(main())
