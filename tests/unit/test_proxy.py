"""serve.py's Foundry proxy and upstream selection, against a scripted local upstream.

The real Foundry Local is exercised in tests/foundry; here a tiny HTTP server plays an
upstream whose timing and failures the test controls (holding a stream open, sending
garbage, closing mid-stream), which the real runtime cannot be made to do on demand.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from hearth_server.handler import make_handler
from hearth_server.proxy import SERVER_FAULT, advice, load_candidates, readable
from hearth_server.upstream import (
    Upstream,
    UpstreamConfigError,
    answers_models,
    cli_url,
    configured,
    detect,
    normalize_base,
)
from tests.support.fake_http import FakeHandler, serving

CHAT_CHUNK = (
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "cut", '
    b'"choices": [{"index": 0, "delta": {"role": "assistant", "content": "The capital"}, '
    b'"finish_reason": null}]}\n\n'
)


class Script:
    """What the scripted upstream does; the test flips `release` to finish a stream."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.closed = threading.Event()


def scripted_upstream(script: Script) -> type[BaseHTTPRequestHandler]:
    class Upstream(FakeHandler):
        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            script.seen.append((self.command, self.path, dict(self.headers.items())))
            path = self.path.removeprefix("/prefix")
            model = body.get("model")
            if path == "/v1/chat/completions" and model == "cut":
                self._cut(CHAT_CHUNK)
            elif path == "/v1/chat/completions" and model in ("no-content", "odd-status"):
                self.send_raw(204 if model == "no-content" else 999, b"", "application/json")
            elif path == "/v1/chat/completions" and model == "echo-key":
                said = f"Incorrect API key provided: {self.headers.get('Authorization')}"
                self.send_json(401, {"error": {"message": said}})
            elif path == "/v1/chat/completions" and model == "echo-key-late":
                said = f"{'x' * 285} Bearer-ish {self.headers.get('Authorization')}"
                self.send_raw(403, f"<p>{said}</p>".encode(), "text/html")
            elif path == "/v1/chat/completions" and model == "openai-error":
                self.send_json(429, {"error": {"message": "slow down", "type": "rate_limit"}})
            elif path == "/v1/chat/completions" and model == "broken":
                self.send_raw(
                    500, b"server=oatpp/1.3.0\ncode=500\nmessage=Kaboom inside\n", "text/plain"
                )
            elif path == "/v1/chat/completions":
                self._stream()
            elif path == "/v1/models":
                self.send_json(200, {"data": [{"id": "m-generic-cpu:1"}, {"id": "other:2"}]})
            elif path == "/models/loaded":
                self.send_json(200, ["m-generic-cpu:1"])
            elif path == "/models/load/m":
                self.send_json(200, {"status": "loaded"})
            else:
                self.send_raw(404, b"message=No mapping\n", "text/plain")

        def _stream(self) -> None:
            self.send_response(200)
            for _ in range(2):  # the v2 service repeats these headers
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "keep-alive")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.send_chunk(b'data: {"first": true}\n\n')
            try:
                while not script.release.wait(0.05):
                    self.send_chunk(b": keep-alive\n\n")
                self.send_chunk(b"data: [DONE]\n\n")
                self.end_stream()
            except (BrokenPipeError, ConnectionResetError):
                script.closed.set()

        def _cut(self, first: bytes) -> None:
            self.start_stream()
            self.send_chunk(first)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    return Upstream


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def hearth(script: Script, tmp_path: Path) -> Iterator[int]:
    """serve.py's handler in-process, proxying to the scripted upstream under /prefix."""
    with serving(scripted_upstream(script)) as upstream_port:
        target = Upstream(f"http://127.0.0.1:{upstream_port}/prefix", "test", api_key="sk-test")
        with serving(make_handler(tmp_path, "test", quiet=True, upstream=target)) as port:
            yield port
            script.release.set()


JSON = {"Content-Type": "application/json"}


def request(port: int, method: str, path: str, body: object = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    headers = {**JSON, "Authorization": "Bearer page-placeholder"}
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), payload


def test_first_chunk_arrives_before_the_upstream_finishes(hearth: int, script: Script) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", hearth, timeout=10)
    connection.request("POST", "/foundry/v1/chat/completions", body=b"{}", headers=JSON)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"  # one clean value
    first = response.read1(4096)
    assert b'"first": true' in first
    assert not script.release.is_set()  # the upstream is still mid-stream
    script.release.set()
    rest = response.read()
    assert rest.endswith(b"data: [DONE]\n\n")
    connection.close()
    method, path, headers = script.seen[0]
    assert (method, path) == ("POST", "/prefix/v1/chat/completions")  # the prefix is kept
    assert headers["Authorization"] == "Bearer sk-test"  # API_KEY, not the page's value


def test_a_client_that_goes_away_closes_the_upstream(hearth: int, script: Script) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", hearth, timeout=10)
    connection.request("POST", "/foundry/v1/chat/completions", body=b"{}", headers=JSON)
    response = connection.getresponse()
    response.read1(4096)
    connection.sock.shutdown(socket.SHUT_RDWR)  # what aborting fetch() does (Stop)
    connection.close()
    assert script.closed.wait(5), "the upstream connection stayed open after the client left"


def raw_status(port: int, target: str, host: str | None = None) -> int:
    """The status for a GET of `target` sent verbatim, with the Host given (or the real one)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", target, skip_host=host is not None, skip_accept_encoding=True)
    if host is not None:
        connection.putheader("Host", host)
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


def test_only_the_fixed_upstream_is_reachable(hearth: int, script: Script) -> None:
    for path in (
        "/foundry/v1/../../etc/passwd",
        "/foundry/v1/a/../../models/load/x",
        "/foundry/v1/%2e%2e/openai/load/x",
        "/foundry/v1/.%2E/openai/load/x",
        "/foundry/v1/models/..%2fmodels%2fload%2fx",
        "/foundry/v1/embeddings",
    ):
        assert raw_status(hearth, path) in (400, 404), path
    assert raw_status(hearth, "http://example.com/foundry/v1/models", "example.com") == 400
    assert raw_status(hearth, "/foundry/v1/models", "example.com") == 421
    assert script.seen == []  # none of it reached the upstream
    assert raw_status(hearth, "/foundry/v1/models") == 200
    assert [path for _, path, _ in script.seen] == ["/prefix/v1/models"]


def test_upstream_errors_are_openai_style_with_the_upstreams_words(hearth: int) -> None:
    chat = "/foundry/v1/chat/completions"
    status, _, body = request(hearth, "POST", chat, {"model": "openai-error"})
    assert status == 429
    assert json.loads(body)["error"]["message"].endswith(
        "answered HTTP 429: slow down. It is busy or over its rate limit: wait a moment, "
        "then send again."
    )  # what to do, beside the upstream's own words
    status, _, body = request(hearth, "POST", chat, {"model": "broken"})
    assert status == 500
    message = json.loads(body)["error"]["message"]
    assert "Kaboom inside" in message and message.endswith(SERVER_FAULT)


def test_an_error_page_reads_as_its_words_and_every_status_gets_its_advice() -> None:
    assert readable("<html><body><h1>Oops</h1>\n<p>try later</p></body></html>") == "Oops try later"
    assert readable("a < b, but plain") == "a < b, but plain"  # no tags: as it is
    assert readable("x < 5 and y > 3") == "x < 5 and y > 3"
    styled = "<html><head><style>p { color: red }</style></head><p>Can&#39;t &amp; won&#39;t</p>"
    assert readable(styled) == "Can't & won't"
    assert readable("<p " * 21_000) == "<p " * 20_999 + "<p"  # no tag: one linear pass
    assert advice(401) == advice(403) and "API_KEY" in advice(401)
    assert advice(503) == advice(500) == SERVER_FAULT
    assert advice(400) == ""  # the server's words about the request are the advice


@pytest.mark.parametrize("model", ["no-content", "odd-status"])
def test_an_answer_that_is_not_a_200_with_a_body_is_a_502(hearth: int, model: str) -> None:
    """A 204 was passed on with a chunked body it may not have, which broke the next
    request on that connection; a status of 999 was passed on as it was."""
    connection = http.client.HTTPConnection("127.0.0.1", hearth, timeout=10)
    headers = {**JSON, "Authorization": "Bearer page-placeholder"}
    for _ in range(2):  # the same connection must still work after it
        body = json.dumps({"model": model}).encode()
        connection.request("POST", "/foundry/v1/chat/completions", body=body, headers=headers)
        response = connection.getresponse()
        assert (
            response.status == 502
            and "answered HTTP" in json.loads(response.read())["error"]["message"]
        )
    connection.close()


def test_an_upstream_quoting_the_api_key_does_not_show_it_to_the_page(hearth: int) -> None:
    chat = "/foundry/v1/chat/completions"
    status, _, body = request(hearth, "POST", chat, {"model": "echo-key"})
    assert status == 401 and b"sk-test" not in body
    assert json.loads(body)["error"]["message"].endswith(
        "provided: Bearer [API_KEY]. Check the API key serve.py sends it (API_KEY)."
    )
    # quoted where the message is cut: redacted first, so no part of it is left
    status, _, body = request(hearth, "POST", chat, {"model": "echo-key-late"})
    assert status == 403 and b"sk-t" not in body and b"<p>" not in body


def test_a_stream_cut_mid_way_ends_with_an_error_event_that_says_so(hearth: int) -> None:
    """Not passed on as complete: the page's client raises the event, after the text that
    arrived, and its words name the upstream rather than the page's connection."""
    connection = http.client.HTTPConnection("127.0.0.1", hearth, timeout=10)
    body = json.dumps({"model": "cut"})
    connection.request("POST", "/foundry/v1/chat/completions", body=body, headers=JSON)
    response = connection.getresponse()
    events = response.read().decode().split("\n\n")
    connection.close()
    assert "The capital" in events[0] and "[DONE]" not in "".join(events)
    error = json.loads(events[1].removeprefix("data: "))["error"]
    assert error["type"] == "upstream_broke_off"
    assert (
        "stopped answering in the middle of the reply (it closed the connection)"
        in error["message"]
    )
    assert "/prefix" in error["message"]


def test_upstream_down_is_a_502_that_says_how_to_start_it(tmp_path: Path) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead = spare.getsockname()[1]
    target = Upstream(f"http://127.0.0.1:{dead}", "test")
    with serving(make_handler(tmp_path, "test", quiet=True, upstream=target)) as port:
        status, _, body = request(port, "POST", "/foundry/v1/chat/completions", {})
        assert status == 502
        message = json.loads(body)["error"]["message"]
        assert "is not answering" in message and "foundry service start" in message
        status, _, body = request(port, "GET", "/api/foundry/status")
        assert json.loads(body)["reachable"] is False


def test_no_upstream_configured_is_a_503_with_the_fix(tmp_path: Path) -> None:
    with serving(make_handler(tmp_path, "test", quiet=True, upstream=None)) as port:
        status, _, body = request(port, "GET", "/foundry/v1/models")
        assert status == 503
        assert "BASE_URL" in json.loads(body)["error"]["message"]
        status, _, body = request(port, "GET", "/api/foundry/status")
        assert (status, json.loads(body)["configured"]) == (200, False)


def test_models_and_loading_use_the_management_routes(hearth: int) -> None:
    status, _, body = request(hearth, "GET", "/api/foundry/models")
    assert status == 200
    listing = json.loads(body)
    assert listing["models"] == [
        {"id": "m-generic-cpu:1", "loaded": True},
        {"id": "other:2", "loaded": False},
    ]
    status, _, body = request(hearth, "POST", "/api/foundry/load", {"model": "m-generic-cpu:1"})
    assert (status, json.loads(body)["name"]) == (200, "m")
    status, _, body = request(hearth, "POST", "/api/foundry/load", {"model": "other:2"})
    assert status == 404 and "could not load other:2" in json.loads(body)["error"]["message"]
    status, _, _ = request(hearth, "POST", "/api/foundry/load", {"nothing": 1})
    assert status == 400


def test_load_candidates_walk_from_the_id_to_the_alias() -> None:
    assert load_candidates("phi-4-mini-instruct-generic-cpu:1") == [
        "phi-4-mini-instruct-generic-cpu:1",
        "phi-4-mini-instruct-generic-cpu",
        "phi-4-mini-instruct-generic",
        "phi-4-mini-instruct",
        "phi-4-mini",
        "phi-4",
        "phi",
    ]
    # dot segments never reach an upstream's path
    assert load_candidates("..") == [] and load_candidates(".") == []
    assert load_candidates("..-x:1") == ["..-x:1", "..-x"]


def test_a_dot_segment_model_id_is_not_loaded(hearth: int, script: Script) -> None:
    status, _, _ = request(hearth, "POST", "/api/foundry/load", {"model": ".."})
    assert status == 404
    assert not any("load" in path for _, path, _ in script.seen)


def test_configuration_order_and_normalisation() -> None:
    env = {"BASE_URL": "http://10.0.0.5:8000/v1/", "FOUNDRY_LOCAL_URL": "http://x:1", "MODEL": "m"}
    chosen = configured(None, env)
    assert chosen == Upstream("http://10.0.0.5:8000", "BASE_URL", None, "m")
    assert configured("http://127.0.0.1:9/catalogs/local", env).base.endswith("/catalogs/local")
    assert configured(None, {"FOUNDRY_LOCAL_URL": "http://x:1"}).source == "FOUNDRY_LOCAL_URL"
    assert configured(None, {}) is None
    with pytest.raises(UpstreamConfigError, match="BASE_URL.*not an http"):
        configured(None, {"BASE_URL": "localhost:5272"})
    assert normalize_base("https://my.azure.example/openai/v1", "x") == (
        "https://my.azure.example/openai"
    )


def test_detection_prefers_the_cli_then_probes_ports() -> None:
    status_text = "🟢 Model management service is running on http://127.0.0.1:5273/openai/status"
    assert cli_url(lambda cmd: status_text) == "http://127.0.0.1:5273"
    assert detect({}, run=lambda cmd: status_text).source == "foundry CLI"
    probed: list[str] = []

    def probe(base: str) -> bool:
        probed.append(base)
        return base.endswith(":5273")

    found = detect({"API_KEY": "k"}, run=lambda cmd: None, probe=probe)
    # a probed port may be anyone's: the key goes only to an upstream named by the user
    assert found == Upstream("http://127.0.0.1:5273", "probe of port 5273", None, None)
    assert detect({"API_KEY": "k"}, run=lambda cmd: status_text).api_key == "k"
    assert probed == ["http://127.0.0.1:5272", "http://127.0.0.1:5273"]
    assert detect({}, run=lambda cmd: None, probe=lambda base: False) is None


def test_an_api_key_a_header_cannot_carry_is_refused_at_start_without_showing_it() -> None:
    url = {"BASE_URL": "http://127.0.0.1:9"}
    found = configured(None, {**url, "API_KEY": " sk-pasted-from-a-file\n"})
    assert found is not None and found.api_key == "sk-pasted-from-a-file"
    with pytest.raises(UpstreamConfigError, match="API_KEY holds") as refused:
        configured(None, {**url, "API_KEY": "sk-secret\nX-Injected: 1"})
    assert "sk-secret" not in str(refused.value)


@pytest.fixture
def dripping_upstream() -> Iterator[tuple[str, threading.Event]]:
    """An upstream that answers a status line, then one header byte every 50 ms for as long
    as the connection stays open: each read is quick, the answer never ends. The event is
    set once the client has hung up."""
    listener = socket.create_server(("127.0.0.1", 0))
    hung_up = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while not hung_up.is_set():
                    connection.sendall(b"a")
                    hung_up.wait(0.05)
            except OSError:
                hung_up.set()

    threading.Thread(target=drip, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", hung_up
    hung_up.set()
    listener.close()


def test_a_status_probe_ends_even_when_every_read_is_quick(
    dripping_upstream: tuple[str, threading.Event],
) -> None:
    """The timeout bounds the whole probe, not each read: before, this upstream held the
    probe (and /api/foundry/status, and serve.py's start-up detection) for as long as it
    liked. The probe gives up, says the upstream is not answering, and hangs up."""
    base, hung_up = dripping_upstream
    answers: list[bool] = []
    probe = threading.Thread(target=lambda: answers.append(answers_models(base, 0.5)))
    probe.start()
    probe.join(30)  # far past the deadline: a probe still running here is one that hangs
    assert answers == [False]
    assert hung_up.wait(5), "the probe left the dripping connection open"


def test_a_server_down_gets_the_advice_that_fits_who_chose_it() -> None:
    named = configured(None, {"BASE_URL": "http://127.0.0.1:8765"})  # any OpenAI server
    assert named is not None and named.named
    said = named.down("Connection refused")
    assert said.startswith("The server at http://127.0.0.1:8765 (BASE_URL) is not answering")
    assert "foundry service start" not in said  # no use for a server the user named
    flag = configured("http://127.0.0.1:8765", {})  # named as Foundry Local's
    assert flag is not None and not flag.named
    assert "foundry service start" in flag.down("x") and "--foundry-url names" in flag.down("x")
    found = Upstream("http://127.0.0.1:5272", "probe of port 5272")
    assert not found.named and "foundry service start" in found.down("Connection refused")
    told = configured(None, {"FOUNDRY_LOCAL_URL": "http://127.0.0.1:5273"})
    assert told is not None and "foundry service start" in told.down("timed out")
