"""The service worker (site/sw.js): a second visit works with serve.py stopped, a new build
replaces the old one within one reload, any static file server will do, and a damaged
saved model is noticed and downloaded again."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from build import default_cache
from hearth_build.chromium import (
    APP_PRECACHE_JS,
    CHROMIUM_ARGS,
    MODEL_FILES_SAVED_JS,
    MODEL_SAVED_JS,
)
from hearth_build.files import HashCache
from hearth_build.manifest import build_manifest, write_manifest
from hearth_build.pack import write_service_worker
from hearth_build.snapshot import make_snapshot
from hearth_build.vendor import NPM_ASSETS, vendor_dir
from tests.conftest import (
    ROOT,
    PageSession,
    ServerProcess,
    ask,
    chromium_path,
    context_session,
    page_session,
    start_server,
    stop_server,
    wait_until,
)

QUERY = "?temperature=0&max_tokens=16"
# the caches a build leaves: its app's files (site/sw.js), Python's snapshot among them, and
# the snapshot that pages made themselves before build.py shipped one (hearth-python-<build>)
BUILD_CACHES = (
    """async () => (await caches.keys()).filter((k) => /^hearth-(app|python)-/.test(k)).sort()"""
)
# what a page of an earlier version left: its own Python snapshot
OLD_SNAPSHOT = """async () => {
  const cache = await caches.open("hearth-python-0123456789abcdef");
  await cache.put("python.snapshot", new Response(new Uint8Array(1024)));
}"""
# what a precache made where there was no WebGPU adapter lacks: the manifest's webgpu_only
DROP_WEBGPU_BUILD = """async () => {
  const manifest = await fetch("manifest.json", { cache: "no-store" });
  const names = (await manifest.json()).webgpu_only;
  let dropped = 0;
  for (const key of await caches.keys()) {
    if (!key.startsWith("hearth-app-")) continue;
    const cache = await caches.open(key);
    for (const name of names) {
      dropped += Number(await cache.delete(new URL(name, location.href).href));
    }
  }
  return dropped;
}"""
# whether this build's app cache holds every file of ORT's WebGPU build
WEBGPU_BUILD_KEPT = f"""async () => {{
  const {{ webgpuOnly, cached }} = await ({APP_PRECACHE_JS})();
  return webgpuOnly.every((name) => cached.includes(name));
}}"""
WORKER_STATE = """async () => {
  const r = await navigator.serviceWorker.getRegistration();
  const sw = (w) => w && `${w.state} ${w.scriptURL}`;
  const script = await (await fetch("sw.js", { cache: "no-store" })).text();
  return { caches: await caches.keys(), active: sw(r?.active), waiting: sw(r?.waiting),
           installing: sw(r?.installing), build: script.match(/BUILD = "([^"]+)"/)?.[1] };
}"""
# Flip one byte in the middle of a saved file, keeping size and headers: what a
# damaged disk or a tampered profile would leave.
TAMPER = """async (name) => {
  const models = await caches.open("hearth-models");
  for (const request of await models.keys()) {
    if (!request.url.endsWith(`/${name}`)) continue;
    const stored = await models.match(request);
    const bytes = new Uint8Array(await stored.arrayBuffer());
    bytes[bytes.length >> 1] ^= 0xff;
    await models.put(request, new Response(bytes, { headers: stored.headers }));
    return true;
  }
  return false;
}"""


def ready_and_saved(chat: PageSession) -> None:
    """Ready, with everything a second visit reads saved (the app, precached, and the model)."""
    chat.open(QUERY)
    chat.wait_state("ready")
    wait_until(chat.page, MODEL_SAVED_JS, timeout_s=60)


def test_second_visit_works_with_the_server_stopped(
    browser: object, own_server: ServerProcess
) -> None:
    with page_session(browser, own_server) as chat:
        ready_and_saved(chat)
        # no WebGPU adapter here, so ORT's WebGPU build was not precached (27 MB saved),
        # and everything else was: the offline visit below needs nothing it left out
        assert not chat.page.evaluate("async () => Boolean(await navigator.gpu?.requestAdapter())")  # type: ignore[attr-defined]
        precache = chat.page.evaluate(APP_PRECACHE_JS)  # type: ignore[attr-defined]
        assert any(name.endswith(".asyncify.wasm") for name in precache["webgpuOnly"]), precache
        assert set(precache["cached"]) >= set(precache["app"]) - set(precache["webgpuOnly"])
        assert not set(precache["cached"]) & set(precache["webgpuOnly"]), precache["cached"]
        stop_server(own_server)
        chat.page.reload()  # type: ignore[attr-defined]
        chat.wait_state("ready")
        assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]
        assert chat.page.evaluate("crossOriginIsolated")  # type: ignore[attr-defined]
        # the Foundry backend needs serve.py, and says so
        chat.page.select_option("[data-testid=backend]", "foundry")  # type: ignore[attr-defined]
        banner = chat.page.locator("[data-testid=error]")  # type: ignore[attr-defined]
        banner.wait_for(state="visible", timeout=30_000)
        assert "serve.py" in banner.inner_text()


def test_offline_without_the_precached_webgpu_build_the_page_falls_back_to_wasm(
    webgpu_browser: object, own_server: ServerProcess
) -> None:
    # The service worker precaches ORT's WebGPU build only where it found an adapter at
    # install; one that appears later finds no such build offline. The page then opens on
    # WASM, says why, and answers. Online, the worker stores the build once a page loads
    # it, and the next offline visit runs on WebGPU.
    with page_session(webgpu_browser, own_server) as chat:
        chat.open(QUERY)
        chat.wait_state("ready", timeout_s=120)
        wait_until(chat.page, MODEL_SAVED_JS, timeout_s=60)
        assert chat.page.evaluate(DROP_WEBGPU_BUILD) == 3  # type: ignore[attr-defined]
        chat.page.reload()  # type: ignore[attr-defined]
        wait_until(chat.page, WEBGPU_BUILD_KEPT, timeout_s=60)
        stop_server(own_server)
        line = chat.page.locator("[data-testid=status]")  # type: ignore[attr-defined]
        chat.page.reload()  # type: ignore[attr-defined]
        chat.wait_state("ready", timeout_s=120)
        status = line.inner_text()
        assert "WebGPU" in status and "WASM" not in status, status  # no "(WebGPU failed: …)"
        assert chat.page.evaluate(DROP_WEBGPU_BUILD) == 3  # type: ignore[attr-defined]
        chat.page.reload()  # type: ignore[attr-defined]
        chat.wait_state("ready", timeout_s=120)
        status = line.inner_text()
        assert "WASM" in status, status
        assert "WebGPU failed: its runtime is not saved for offline use; reload once" in status
        assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


def test_a_first_visit_saves_every_file_an_offline_one_reads_without_the_service_worker(
    browser: object, own_server: ServerProcess
) -> None:
    # A first visit reads its files before the service worker controls the page, or
    # here, with workers blocked, without one at all: the model worker saves them itself,
    # the tokenizer that Python reads included (a CI run once lost it that way, and the
    # offline reload failed with "Failed to fetch").
    with page_session(browser, own_server, service_workers="block") as chat:
        chat.open(QUERY)
        chat.wait_state("ready")
        wait_until(chat.page, MODEL_FILES_SAVED_JS, timeout_s=60)


def test_a_first_visit_downloads_each_file_once(
    playwright: Any, own_dist: Path, tmp_path: Path
) -> None:
    # The service worker precaches the app while the page downloads the same large files
    # (the Python snapshot, Pyodide's and ORT's WebAssembly); it asks the server whether
    # the browser's copy is current rather than downloading them again (74 MB more, once).
    # That needs the HTTP disk cache of a real profile: Playwright's new contexts keep
    # large entries nowhere, so this visit has a profile with room for the largest file.
    log = tmp_path / "requests.log"
    server = start_server("--dist", str(own_dist), log=log)
    try:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=chromium_path(),
            headless=True,
            args=[*CHROMIUM_ARGS, f"--disk-cache-size={1 << 30}"],
        )
        with context_session(context, server) as chat:
            ready_and_saved(chat)
    finally:
        stop_server(server)
    shipped = json.loads((own_dist / "manifest.json").read_text())["files"]
    sent = Counter(
        match.group(1).lstrip("/")
        for match in re.finditer(r"^GET (\S+) 200 ", log.read_text(), re.MULTILINE)
    )
    assert "python.snapshot" in sent, sent  # the recorder sees the files at all
    twice = {name: count for name, count in sent.items() if name in shipped and count > 1}
    assert not twice, f"downloaded more than once on a first visit: {twice}"


def test_a_new_build_is_served_within_one_reload_and_old_caches_go(
    browser: object, own_dist: Path, own_server: ServerProcess
) -> None:
    with page_session(browser, own_server) as chat:
        ready_and_saved(chat)
        chat.page.evaluate(OLD_SNAPSHOT)  # type: ignore[attr-defined]
        before = chat.page.evaluate(BUILD_CACHES)  # type: ignore[attr-defined]
        assert [name.split("-")[1] for name in before] == ["app", "python"], before
        rebuild_pyapp(own_dist, "9.8.7")
        chat.page.reload()  # type: ignore[attr-defined]
        chat.wait_state("ready")
        assert chat.page.locator("[data-testid=version]").inner_text() == "v9.8.7"  # type: ignore[attr-defined]
        try:
            wait_until(
                chat.page,
                f"async () => {{ const k = await ({BUILD_CACHES})(); "
                f"return k.length > 0 && !k.some((name) => {before!r}.includes(name)); }}",
            )
        except AssertionError as error:  # say where the update stopped
            try:
                state = chat.page.evaluate(WORKER_STATE)  # type: ignore[attr-defined]
            except Exception as why:  # noqa: BLE001 - the diagnosis must not hide the failure
                state = f"unknown ({why})"
            raise AssertionError(f"{error}; caches and service worker: {state}") from None
        assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


def rebuild_pyapp(dist: Path, version: str, snapshot: bool = True) -> None:
    """What `python build.py` writes after a change to pyapp: a new pyapp.zip, Python's
    snapshot made from it (unless `snapshot` is false: a build stopped half way), manifest
    and service worker (the rest of the build is unchanged, so it is not rerun)."""
    archive = dist / "pyapp.zip"
    with zipfile.ZipFile(archive) as old:
        entries = {info: old.read(info) for info in old.infolist()}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in entries.items():
            if info.filename == "pyapp/__init__.py":
                text = data.decode()
                start = text.index("__version__")
                end = text.index("\n", start)
                data = (text[:start] + f'__version__ = "{version}"' + text[end:]).encode()
            new.writestr(info, data)
    if snapshot:
        pyodide = next(a for a in NPM_ASSETS if a.package == "pyodide")
        make_snapshot(ROOT, dist, vendor_dir(ROOT, pyodide), default_cache() / "snapshots")
    hashes = HashCache(default_cache() / "test-hashes.json")
    write_manifest(dist, build_manifest(dist, hashes, {"hearth": version}))
    write_service_worker(ROOT, dist, dist / "manifest.json")


# the weights, which the model worker reads for the session, and the tokenizer, which
# Python reads
@pytest.mark.parametrize("name", ["model.onnx.data", "tokenizer.json"])
def test_a_damaged_saved_model_is_downloaded_again(chat: PageSession, name: str) -> None:
    ready_and_saved(chat)
    assert chat.page.evaluate(TAMPER, name)  # type: ignore[attr-defined]
    chat.page.reload()  # type: ignore[attr-defined]
    chat.wait_state("ready")
    banner = chat.page.locator("[data-testid=error]")  # type: ignore[attr-defined]
    assert "damaged, so it was downloaded again" in banner.inner_text()
    assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


@pytest.fixture
def static_server(dist: Path) -> Iterator[str]:
    """dist/ from Python's plain static server: no COOP, COEP or CSP headers at all."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=dist,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:  # until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "http.server did not start"
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_a_plain_static_server_is_enough(browser: object, static_server: str) -> None:
    server = ServerProcess(static_server, None)  # type: ignore[arg-type]
    with page_session(browser, server) as chat:
        chat.open(QUERY)
        # at most one automatic reload, then isolated: WASM threads
        chat.page.wait_for_function("() => crossOriginIsolated", timeout=120_000)  # type: ignore[attr-defined]
        chat.wait_state("ready")
        status = chat.page.locator("[data-testid=status]").inner_text()  # type: ignore[attr-defined]
        assert "threads" in status, status
        assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


def saved_model_mb(chat: PageSession, dist: Path) -> int:
    """The model's storage by the build's manifest: the sizes of the files it keeps."""
    urls = chat.page.evaluate(  # type: ignore[attr-defined]
        "async () => (await (await caches.open('hearth-models')).keys()).map((r) => r.url)"
    )
    files = json.loads((dist / "manifest.json").read_text())["files"]
    sizes = [files[urlsplit(url).path.lstrip("/")]["size"] for url in urls]
    assert sizes, "no model file was saved"
    return round(sum(sizes) / 1048576)


def test_settings_show_storage_and_remove_the_model(chat: PageSession, dist: Path) -> None:
    ready_and_saved(chat)
    page = chat.page
    page.click(".settings summary")  # type: ignore[attr-defined]
    storage = page.locator("[data-testid=storage]")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => /MB used in all of/.test(document.getElementById('storage').textContent)"
    )
    shown = re.search(r"the model ([\d,]+) MB, ([\d,]+) MB used in all", storage.inner_text())
    model_mb = saved_model_mb(chat, dist)
    assert shown and int(shown[1].replace(",", "")) == model_mb, storage.inner_text()
    total = int(shown[2].replace(",", ""))
    with page.expect_event("dialog") as asked:  # type: ignore[attr-defined]
        page.click("[data-testid=remove-model]")  # type: ignore[attr-defined]
    assert asked.value.message.startswith("Remove the downloaded model (")
    asked.value.dismiss()  # kept: so asking again asks again (with none, nothing is asked)
    with page.expect_event("dialog") as asked:  # type: ignore[attr-defined]
        page.click("[data-testid=remove-model]")  # type: ignore[attr-defined]
    asked.value.accept()
    banner = page.locator("[data-testid=error]")  # type: ignore[attr-defined]
    banner.wait_for(state="visible")
    assert "Removed the downloaded model" in banner.inner_text()
    assert "hearth-models" not in page.evaluate("caches.keys()")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('storage').textContent.includes('no downloaded model')"
    )
    # the total drops by the model's size at once, not whenever the browser recounts
    after = re.search(r"([\d,]+) MB used in all", storage.inner_text())
    assert after and int(after[1].replace(",", "")) <= total - model_mb + 1, storage.inner_text()
    # the loaded model goes on working
    assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


def test_chromium_finds_the_page_installable(chat: PageSession) -> None:
    ready_and_saved(chat)
    cdp = chat.context.new_cdp_session(chat.page)  # type: ignore[attr-defined]
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito profiles, where Chromium never installs apps;
    # anything about the page itself (manifest, icons, service worker) would show here.
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
