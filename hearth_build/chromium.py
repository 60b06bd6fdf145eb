"""Finding and launching the system Chromium, shared by the e2e tests and the benchmarks.

Playwright cannot download its own browsers here, so we drive the distribution's Chromium
(or Chrome/Edge) through `executable_path`, with the flags that keep it from calling home.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

from hearth_server.loopback import is_loopback

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# With this flag Chromium offers a (SwiftShader) WebGPU adapter even without a GPU, so the
# WebGPU path can be exercised; it is correct but far too slow to time.
WEBGPU_ARGS = ["--enable-unsafe-webgpu"]
CANDIDATES = (
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "microsoft-edge",
    "msedge",
)


def find_chromium() -> str | None:
    """CHROMIUM_PATH, else the first Chromium-family browser on this machine."""
    if env := os.environ.get("CHROMIUM_PATH"):
        return env
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


MISSING_BROWSER = (
    "No Chromium-family browser found: install one (`apt-get install -y chromium`) "
    "or set CHROMIUM_PATH."
)


def is_local(url: str) -> bool:
    """True for URLs that cannot leave the machine: loopback hosts, data: and blob:."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return is_loopback(parts.hostname or "")


# Page-side checks (for page.wait_for_function). Every file of the default model that the
# page reads is saved (its session's files and its tokenizer: pyapp/config.py
# `session_files` and `tokenizer`)...
MODEL_FILES_SAVED_JS = """async () => {
  const entry = (await (await fetch("app-config.json")).json()).models[0];
  const weights = entry.weights ? [entry.weights] : [];
  const names = [entry.graph, ...entry.data, ...weights, entry.tokenizer];
  const models = await caches.open("hearth-models");
  const saved = await Promise.all(
    names.map((name) => models.match(new URL(entry.path + name, location.href).href)),
  );
  return saved.every(Boolean);
}"""
# ...and the service worker controls the page, so a reload works offline.
MODEL_SAVED_JS = f"""async () =>
  Boolean(navigator.serviceWorker.controller) && await ({MODEL_FILES_SAVED_JS})()"""
# What the service worker precached (site/sw.js), beside what it could have: this build's
# app files (all but the model) and the manifest's "webgpu_only" list, as paths from the
# page's folder.
APP_PRECACHE_JS = """async () => {
  const manifest = await (await fetch("manifest.json", { cache: "no-store" })).json();
  const cached = [];
  for (const key of await caches.keys()) {
    if (!key.startsWith("hearth-app-")) continue;
    for (const request of await (await caches.open(key)).keys()) {
      cached.push(new URL(request.url).pathname.slice(location.pathname.length));
    }
  }
  const app = Object.keys(manifest.files).filter((name) => !name.startsWith("models/"));
  return { app, webgpuOnly: manifest.webgpu_only, cached };
}"""
