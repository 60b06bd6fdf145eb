"""The same-origin proxy to the one upstream fixed at startup (Foundry Local has no CORS).

`/foundry/v1/*` is forwarded to `<upstream>/v1/*` and the answer streamed back chunk by
chunk as it arrives (SSE is never buffered). `/api/foundry/*` covers what the model
picker needs on top of the OpenAI routes: status, which models are loaded, and loading
one, over whichever management API the upstream has (the v2 service's `/models/...`
or the classic service's `/openai/...`). Every failure becomes an OpenAI-style JSON error
whose message says what to do.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote

from hearth_server.upstream import START_HINT, Upstream, answers_models

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0  # between two chunks: a cold model's first token can take a while
LOAD_TIMEOUT_S = 900.0  # loading a 7B model from disk
MAX_BODY = 8 << 20
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept")
_SAFE_REST = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,;=%/-]*$")


class ProxyError(Exception):
    """A failure to report to the page as an OpenAI-style error with this status."""

    def __init__(self, status: int, message: str, kind: str = "upstream_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.status}}


def not_configured() -> ProxyError:
    return ProxyError(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"No Foundry Local or OpenAI-compatible server was found when serve.py started: "
        f"{START_HINT}.",
        "upstream_not_configured",
    )


def upstream_path(upstream: Upstream, rest: str, query: str) -> str:
    """`<prefix>/v1/<rest>`; refuses anything that could walk out of the API routes."""
    segments = rest.split("/")
    if not _SAFE_REST.match(rest) or ".." in segments or "." in segments or "" in segments[:-1]:
        raise ProxyError(HTTPStatus.BAD_REQUEST, f"Refusing to forward the path {rest!r}.")
    return f"{upstream.prefix}/v1/{rest}" + (f"?{query}" if query else "")


def request_headers(upstream: Upstream, incoming: dict[str, str]) -> dict[str, str]:
    """Only what the API needs; the page's placeholder key is replaced by API_KEY."""
    headers = {k: v for k, v in incoming.items() if k in FORWARDED_REQUEST_HEADERS}
    if upstream.api_key:
        headers["Authorization"] = f"Bearer {upstream.api_key}"
    return headers


@dataclass
class Exchange:
    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse


@contextmanager
def open_exchange(
    upstream: Upstream,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    read_timeout: float = READ_TIMEOUT_S,
) -> Iterator[Exchange]:
    """One request to the upstream; the connection is closed on exit, whatever happened
    (which is how a Stop in the page reaches the upstream)."""
    connection_class = (
        http.client.HTTPSConnection if upstream.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(upstream.host, upstream.port, timeout=CONNECT_TIMEOUT_S)
    try:
        try:
            connection.connect()
            assert connection.sock is not None
            connection.sock.settimeout(read_timeout)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        except TimeoutError as error:
            raise ProxyError(
                HTTPStatus.GATEWAY_TIMEOUT,
                f"{upstream.base} did not answer in time ({error or 'timeout'}). "
                "Is the model still loading? Try again, or pick a smaller model.",
                "upstream_timeout",
            ) from error
        except (OSError, http.client.HTTPException) as error:
            raise ProxyError(
                HTTPStatus.BAD_GATEWAY,
                f"Foundry Local is not reachable at {upstream.base} "
                f"({getattr(error, 'strerror', None) or error}): {START_HINT}.",
                "upstream_unavailable",
            ) from error
        yield Exchange(connection, response)
    finally:
        connection.close()


def error_from_response(upstream: Upstream, status: int, data: bytes) -> ProxyError:
    """The upstream's own message when it sent an OpenAI-style error, else a summary."""
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
    except (ValueError, UnicodeDecodeError):
        text = data.decode("utf-8", "replace")
        found = re.search(r"^message=(.*)$", text, re.M)  # oatpp's plain-text errors
        message = (found.group(1) if found else text).strip()[:300]
    return ProxyError(status, f"{upstream.base} answered HTTP {status}: {message or 'no details'}")


def fetch_json(upstream: Upstream, path: str, timeout: float = READ_TIMEOUT_S) -> object:
    """GET a management route; ProxyError for anything but a JSON 200."""
    with open_exchange(upstream, "GET", path, None, request_headers(upstream, {}), timeout) as ex:
        data = ex.response.read()
        if ex.response.status != HTTPStatus.OK:
            raise error_from_response(upstream, ex.response.status, data)
    try:
        return json.loads(data)
    except ValueError:
        raise ProxyError(
            HTTPStatus.BAD_GATEWAY, f"{upstream.base}{path} sent invalid JSON."
        ) from None


def status(upstream: Upstream | None) -> dict[str, object]:
    if upstream is None:
        return {"configured": False, "reachable": False, "message": not_configured().message}
    reachable = answers_models(upstream.base, timeout=2.0)
    message = (
        "" if reachable else f"Foundry Local is not answering at {upstream.base}: {START_HINT}."
    )
    return {"configured": True, "reachable": reachable, "message": message, **upstream.describe()}


def loaded_models(upstream: Upstream) -> set[str] | None:
    """Ids of loaded models, from whichever management API answers; None if neither does."""
    for path in (f"{upstream.prefix}/models/loaded", f"{upstream.prefix}/openai/loadedmodels"):
        try:
            found = fetch_json(upstream, path, timeout=10.0)
        except ProxyError as error:
            if error.status in (HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT):
                raise
            continue
        if isinstance(found, list):
            return {str(item) for item in found}
    return None


def list_models(upstream: Upstream) -> dict[str, object]:
    listing = fetch_json(upstream, f"{upstream.prefix}/v1/models", timeout=30.0)
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        raise ProxyError(HTTPStatus.BAD_GATEWAY, f"{upstream.base}/v1/models sent no model list.")
    ids = [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
    loaded = loaded_models(upstream)
    models = [{"id": i, "loaded": loaded is None or i in loaded} for i in ids]
    return {"models": models, "default": upstream.model, "managed": loaded is not None}


def load_candidates(model_id: str) -> list[str]:
    """Names to try for loading: Foundry's load routes take the alias, and an id is
    `<alias>-<device variant>:<version>`, so drop the version and then trailing parts."""
    name = model_id.split(":", 1)[0]
    parts = name.split("-")
    return [model_id] + ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def load_model(upstream: Upstream, model_id: str) -> dict[str, object]:
    last: ProxyError | None = None
    for name in load_candidates(model_id):
        for route in ("models/load", "openai/load"):
            path = f"{upstream.prefix}/{route}/{quote(name, safe='')}"
            try:
                fetch_json(upstream, path, timeout=LOAD_TIMEOUT_S)
            except ProxyError as error:
                if error.status in (HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT):
                    raise
                last = error
                continue
            return {"status": "loaded", "model": model_id, "name": name}
    detail = last.message if last else "no load route answered"
    raise ProxyError(HTTPStatus.NOT_FOUND, f"Foundry Local could not load {model_id}: {detail}")
