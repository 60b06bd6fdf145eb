"""The same-origin proxy to the one upstream fixed at startup (Foundry Local has no CORS).

`/foundry/v1/*` forwards the OpenAI routes clients use (chat completions, completions,
the model list) to `<upstream>/v1/*`, and streams the answer back chunk by chunk as it
arrives (SSE is never buffered). Nothing else under the upstream is reachable, so a
request cannot walk into its management API. `/api/foundry/*` covers what the model
picker needs on top: status, which models are loaded, and loading one, over whichever
management API the upstream has (the v2 service's `/models/...` or the classic service's
`/openai/...`). Every failure becomes an OpenAI-style JSON error whose message says what
to do.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote, unquote

from hearth_server.client_watch import ClientWatch
from hearth_server.errors import HttpError
from hearth_server.http_limits import MAX_ERROR_BODY, MAX_JSON_ANSWER, read_capped
from hearth_server.upstream import START_HINT, Upstream, answers_models

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0  # between two chunks: a cold model's first token can take a while
LOAD_TIMEOUT_S = 900.0  # loading a 7B model from disk
MAX_MODEL_ID = 256
MAX_LOAD_CANDIDATES = 8  # each may take LOAD_TIMEOUT_S upstream, twice (two load routes)
# Route under /foundry/v1/ -> its method; plus GET models/<id>.
FORWARDED_ROUTES = {("chat", "completions"): "POST", ("completions",): "POST", ("models",): "GET"}
PASSED_TYPES = ("application/json", "text/event-stream")
_SAFE_QUERY = re.compile(r"[A-Za-z0-9._~:@!$&'()*+,;=%/?-]*")
_AMBIGUOUS = re.compile(r"[/\\\x00-\x1f\x7f]")  # a slash, a backslash, a control character


def not_configured() -> HttpError:
    return HttpError(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"No Foundry Local or OpenAI-compatible server was found when serve.py started: "
        f"{START_HINT}.",
        "upstream_not_configured",
    )


def route_segments(path: str) -> list[str]:
    """An API path's segments, each percent-decoded before it is checked: `%2e%2e` is `..`
    and `%2f` cannot hide a slash. Anything that could mean two things is refused."""
    segments = []
    for raw in path.removeprefix("/").split("/"):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            segment = ""
        if segment in ("", ".", "..") or _AMBIGUOUS.search(segment):
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                f"Refusing the path {path!r}: it has an empty, '.' or '..' segment, an encoded "
                "slash or a control character. Use the plain route, such as "
                "/foundry/v1/chat/completions.",
                "invalid_request_error",
            )
        segments.append(segment)
    return segments


def forward_path(upstream: Upstream, method: str, route: list[str], query: str) -> str:
    """`<prefix>/v1/<route>` for the routes clients use; 404 or 405 for anything else."""
    shown = "/foundry/v1/" + "/".join(route)
    allowed = FORWARDED_ROUTES.get(tuple(route))
    if allowed is None and len(route) == 2 and route[0] == "models":
        allowed = "GET"
    if allowed is None:
        raise HttpError(
            HTTPStatus.NOT_FOUND,
            f"Hearth's proxy has no route {shown}; it forwards only chat/completions, "
            "completions and models under /foundry/v1/.",
            "not_found",
        )
    if method != allowed:
        raise HttpError(
            HTTPStatus.METHOD_NOT_ALLOWED, f"Use {allowed} for {shown}.", "invalid_request_error"
        )
    if not _SAFE_QUERY.fullmatch(query):
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"Refusing the query {query!r}: percent-encode it.",
            "invalid_request_error",
        )
    path = "/".join(quote(segment, safe=":@") for segment in route)
    return f"{upstream.prefix}/v1/{path}" + (f"?{query}" if query else "")


def request_headers(upstream: Upstream, body: bytes | None) -> dict[str, str]:
    """JSON in and out, and API_KEY as the bearer token: nothing of the client's headers
    reaches the upstream (the page only ever holds a placeholder key)."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if upstream.api_key:
        headers["Authorization"] = f"Bearer {upstream.api_key}"
    return headers


@dataclass
class Exchange:
    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse
    watch: ClientWatch | None

    @property
    def client_left(self) -> bool:
        return self.watch is not None and self.watch.client_left


@contextmanager
def open_exchange(
    upstream: Upstream,
    method: str,
    path: str,
    body: bytes | None,
    read_timeout: float = READ_TIMEOUT_S,
    client: socket.socket | None = None,
) -> Iterator[Exchange]:
    """One request to the upstream; the connection is closed on exit, whatever happened,
    and at once if `client` (the browser's connection) goes away first (Stop)."""
    connection_class = (
        http.client.HTTPSConnection if upstream.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(upstream.host, upstream.port, timeout=CONNECT_TIMEOUT_S)
    with ExitStack() as stack:
        stack.callback(connection.close)
        try:
            connection.connect()
            assert connection.sock is not None
            connection.sock.settimeout(read_timeout)
            watch = None
            if client is not None:
                watch = stack.enter_context(ClientWatch(client, connection.sock))
            connection.request(method, path, body=body, headers=request_headers(upstream, body))
            response = connection.getresponse()
        except TimeoutError as error:
            raise HttpError(
                HTTPStatus.GATEWAY_TIMEOUT,
                f"{upstream.base} did not answer in time ({error or 'timeout'}). "
                "Is the model still loading? Try again, or pick a smaller model.",
                "upstream_timeout",
            ) from error
        except (OSError, http.client.HTTPException) as error:
            raise HttpError(
                HTTPStatus.BAD_GATEWAY,
                upstream.down(str(getattr(error, "strerror", None) or error)),
                "upstream_unavailable",
            ) from error
        yield Exchange(connection, response, watch)


def proxied_type(upstream: Upstream, response: http.client.HTTPResponse) -> str:
    """The media type to pass on: JSON or an event stream, never something a browser
    would render (HTML from the upstream must not run on Hearth's origin)."""
    declared = response.msg.get_all("Content-Type") or []
    media = {value.split(";", 1)[0].strip(" \t").lower() for value in declared}
    if len(media) != 1 or not media <= set(PASSED_TYPES):
        raise HttpError(
            HTTPStatus.BAD_GATEWAY,
            f"{upstream.base} answered with Content-Type {', '.join(declared) or 'none'}; "
            "Hearth passes on only JSON and event streams. Check that --foundry-url or "
            "BASE_URL points at an OpenAI-compatible API.",
        )
    return media.pop()


# What to do about an upstream's refusal, by its status: its own words say what went wrong,
# rarely what the user can do about it.
ADVICE = {
    401: "Check the API key serve.py sends it (API_KEY).",
    403: "Check the API key serve.py sends it (API_KEY).",
    404: "Check the model and the server's URL (--foundry-url or BASE_URL).",
    408: "It timed out: send again.",
    429: "It is busy or over its rate limit: wait a moment, then send again.",
}
SERVER_FAULT = "It failed on its side: send again, or pick another model."
_MARKUP = re.compile(r"<[A-Za-z!/]")  # where an error body is HTML, not text with a "<"
# linear on any input: each match stops at the next "<" (html.parser is quadratic on
# unclosed tags: 63 s for 63,000 characters of "<p ")
_HIDDEN = re.compile(r"<(?:script|style)\b[^<>]*>[^<]*", re.IGNORECASE)  # and their text
_TAG = re.compile(r"<[^<>]*>")
MAX_ERROR_WORDS = 300  # of an upstream's error, in the page's banner


def advice(status: int) -> str:
    return ADVICE.get(status) or (SERVER_FAULT if status >= 500 else "")


def readable(text: str) -> str:
    """An error page's words without its markup ("<html><body>oops</body></html>": "oops"),
    entities decoded, scripts and styles left out; text that only holds a "<" stays."""
    if not _MARKUP.search(text):
        return text
    words = _TAG.sub(" ", _HIDDEN.sub(" ", text))
    return " ".join(html.unescape(words).split())


def error_from_response(upstream: Upstream, response: http.client.HTTPResponse) -> HttpError:
    """The upstream's own message when it sent an OpenAI-style error, else a summary, with
    what to do about it; a redirect, another 2xx than 200 or a status outside HTTP's is a
    502."""
    status = response.status
    data, _ = read_capped(response, MAX_ERROR_BODY)
    message = ""
    try:
        parsed = json.loads(data)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
        elif isinstance(error, str):
            message = error
        elif isinstance(parsed, dict) and "message" in parsed:
            message = str(parsed["message"])
    except (ValueError, RecursionError):
        text = data.decode("utf-8", "replace")
        found = re.search(r"^message=(.*)$", text, re.M)  # oatpp's plain-text errors
        message = readable(found.group(1) if found else text).strip()
    # redacted before it is cut, so that no part of the key can remain
    said = upstream.redact(message)[:MAX_ERROR_WORDS].rstrip(".") or "no details"
    return HttpError(
        status if 400 <= status < 600 else HTTPStatus.BAD_GATEWAY,
        " ".join(
            filter(None, [f"{upstream.base} answered HTTP {status}: {said}.", advice(status)])
        ),
    )


def fetch_json(
    upstream: Upstream,
    path: str,
    timeout: float = READ_TIMEOUT_S,
    client: socket.socket | None = None,
) -> object:
    """GET a management route; HttpError for anything but a JSON 200 of sane size. With
    `client`, the exchange ends as soon as the page that asked goes away, so a slow or
    stalled upstream cannot keep a thread for a page that left (security review,
    2026-12-02)."""
    with open_exchange(upstream, "GET", path, None, timeout, client) as exchange:
        try:
            if exchange.response.status != HTTPStatus.OK:
                raise error_from_response(upstream, exchange.response)
            data, more = read_capped(exchange.response, MAX_JSON_ANSWER)
        except (OSError, http.client.HTTPException) as error:
            raise HttpError(
                HTTPStatus.BAD_GATEWAY, f"{upstream.base}{path} broke off its answer ({error})."
            ) from error
    if more:
        raise HttpError(
            HTTPStatus.BAD_GATEWAY,
            f"{upstream.base}{path} sent more than {MAX_JSON_ANSWER >> 20} MiB; "
            "check that --foundry-url or BASE_URL points at an OpenAI-compatible API.",
        )
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise HttpError(
            HTTPStatus.BAD_GATEWAY, f"{upstream.base}{path} sent invalid JSON."
        ) from None


def broke_off_message(upstream: Upstream, error: Exception) -> str:
    # in words, not http.client's "IncompleteRead(0 bytes read)"
    early = isinstance(error, http.client.IncompleteRead | ConnectionError)
    reason = (
        "it closed the connection" if early else upstream.redact(str(error)) or "no reason given"
    )
    return (
        f"{upstream.base} stopped answering in the middle of the reply ({reason}). "
        "Check that it is still running, then send again."
    )


def status(upstream: Upstream | None) -> dict[str, object]:
    if upstream is None:
        return {"configured": False, "reachable": False, "message": not_configured().message}
    reachable = answers_models(upstream.base, timeout=2.0, api_key=upstream.api_key)
    message = "" if reachable else upstream.down("no answer to /v1/models")
    return {"configured": True, "reachable": reachable, "message": message, **upstream.describe()}


def loaded_models(upstream: Upstream, client: socket.socket | None = None) -> set[str] | None:
    """Ids of loaded models, from whichever management API answers; None if neither does."""
    for path in (f"{upstream.prefix}/models/loaded", f"{upstream.prefix}/openai/loadedmodels"):
        try:
            found = fetch_json(upstream, path, timeout=10.0, client=client)
        except HttpError as error:
            if error.status in (HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT):
                raise
            continue
        if isinstance(found, list):
            return {str(item) for item in found}
    return None


def list_models(upstream: Upstream, client: socket.socket | None = None) -> dict[str, object]:
    listing = fetch_json(upstream, f"{upstream.prefix}/v1/models", timeout=30.0, client=client)
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        raise HttpError(HTTPStatus.BAD_GATEWAY, f"{upstream.base}/v1/models sent no model list.")
    ids = [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
    loaded = loaded_models(upstream, client)
    models = [{"id": i, "loaded": loaded is None or i in loaded} for i in ids]
    return {"models": models, "default": upstream.model, "managed": loaded is not None}


def requested_model(body: bytes) -> str:
    """The model id a load request names: `{"model": "<id>"}`, the id of sane length."""
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        parsed = None
    model = parsed.get("model") if isinstance(parsed, dict) else None
    if not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_ID:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f'Send a JSON object {{"model": "<id>"}} with an id of 1 to {MAX_MODEL_ID} '
            "characters, as /api/foundry/models lists it.",
            "invalid_request_error",
        )
    return model


def load_candidates(model_id: str) -> list[str]:
    """Names to try for loading: Foundry's load routes take the alias, and an id is
    `<alias>-<device variant>:<version>`, so drop the version and then trailing parts.
    At most MAX_LOAD_CANDIDATES, so no id can fan out into many upstream requests."""
    name = model_id.split(":", 1)[0]
    parts = name.split("-")
    names = [model_id] + ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    # "." and ".." would be path segments an upstream (or a proxy before it) resolves
    usable = (name for name in names if name not in ("", ".", ".."))
    return list(dict.fromkeys(usable))[:MAX_LOAD_CANDIDATES]


def load_model(
    upstream: Upstream, model_id: str, client: socket.socket | None = None
) -> dict[str, object]:
    last: HttpError | None = None
    for name in load_candidates(model_id):
        for route in ("models/load", "openai/load"):
            path = f"{upstream.prefix}/{route}/{quote(name, safe='')}"
            try:
                fetch_json(upstream, path, timeout=LOAD_TIMEOUT_S, client=client)
            except HttpError as error:
                if error.status in (HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT):
                    raise
                last = error
                continue
            return {"status": "loaded", "model": model_id, "name": name}
    detail = last.message if last else "no load route answered"
    raise HttpError(HTTPStatus.NOT_FOUND, f"Foundry Local could not load {model_id}: {detail}")
