"""Who may use serve.py: the host a request names and, for the API, the site it comes from.

DNS rebinding: a web page can point its own host name at 127.0.0.1 and then reach
serve.py as if it were its own origin; only the Host header tells them apart. So every
request must name this server (a loopback name, or the address the client connected to:
the bound one, or with --host 0.0.0.0 this machine's address on that network, with our
port) or a host the user allowed with `--allow-host`.

Cross-site requests: any page may send a "simple" POST (text/plain, a form encoding) to a
local server with no preflight, and the proxy would add API_KEY to it. So `/foundry/*` and
`/api/*` answer only requests from Hearth's own page (Sec-Fetch-Site, Origin), with JSON
bodies. A script without an Origin (the openai client, curl) sends JSON and keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus

from hearth_server.errors import HttpError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
OWN_SITES = ("same-origin", "none")  # `none`: the user typed the URL or opened a bookmark
_AUTHORITY = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::([0-9]{1,5}))?")
_ORIGIN = re.compile(r"(https?)://([^/?#]*)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_authority(value: str) -> tuple[str, int | None] | None:
    """`(name, port)` from `name[:port]` (IPv6 in brackets), lowercased; None if malformed."""
    match = _AUTHORITY.fullmatch(value.strip(" \t").lower())
    if match is None:
        return None
    return match.group(1), int(match.group(2)) if match.group(2) else None


def host_name(address: str) -> str:
    """How a Host header spells an address: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


@dataclass(frozen=True)
class HostPolicy:
    """The names this server answers to."""

    port: int
    own: frozenset[str]  # loopback, the address reached, the --host name: our port only
    allowed: frozenset[str]  # --allow-host: any port, since a reverse proxy's is not ours

    @classmethod
    def for_server(cls, names: Iterable[str], port: int, allowed: Iterable[str]) -> HostPolicy:
        """`names`: the address the client reached and the name the server was bound by."""
        own = frozenset({*LOOPBACK_NAMES, *(host_name(name).lower() for name in names)})
        return cls(port, own, frozenset(name.lower() for name in allowed))

    def allows(self, name: str, port: int) -> bool:
        return name in self.allowed or (name in self.own and port == self.port)

    def allows_origin(self, origin: str) -> bool:
        """Whether `origin` is Hearth's page: http(s)://<a host this server answers to>."""
        match = _ORIGIN.fullmatch(origin.strip(" \t").lower())
        found = split_authority(match.group(2)) if match else None
        if match is None or found is None:
            return False
        name, port = found
        return self.allows(name, _DEFAULT_PORTS[match.group(1)] if port is None else port)


def check_host(headers: Message, policy: HostPolicy) -> None:
    """Refuse a request that does not name this server (DNS rebinding)."""
    values = headers.get_all("Host") or []
    found = split_authority(values[0]) if len(values) == 1 else None
    if found is None:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"Send exactly one Host header naming this server, "
            f"such as Host: 127.0.0.1:{policy.port}.",
            "invalid_request_error",
        )
    name, port = found
    if not policy.allows(name, 80 if port is None else port):
        raise HttpError(
            HTTPStatus.MISDIRECTED_REQUEST,
            f"serve.py does not answer to the host {values[0].strip()!r}. To reach Hearth "
            f"by that name on purpose (your network, a reverse proxy), restart serve.py "
            f"with --allow-host {name}; otherwise open http://127.0.0.1:{policy.port}/.",
            "misdirected_request",
        )


def check_same_origin(headers: Message, policy: HostPolicy) -> None:
    """Refuse an API request that another site's page made (cross-site request forgery)."""
    for site in headers.get_all("Sec-Fetch-Site") or []:
        if site.strip(" \t").lower() not in OWN_SITES:
            raise HttpError(
                HTTPStatus.FORBIDDEN,
                f"This request came from another site (Sec-Fetch-Site: {site.strip()}); "
                "Hearth's API answers only Hearth's own page. Open Hearth's page itself.",
                "cross_site_request",
            )
    for origin in headers.get_all("Origin") or []:
        if not policy.allows_origin(origin):
            raise HttpError(
                HTTPStatus.FORBIDDEN,
                f"This request came from {origin.strip()!r}, not from Hearth's page; "
                "Hearth's API answers only its own page (or a script that sends no Origin). "
                "To serve the page under another name, start serve.py with --allow-host.",
                "cross_site_request",
            )


def check_json_body(headers: Message) -> None:
    """Refuse a POST whose body is not declared JSON: the types a page may send to another
    site without a preflight (text/plain, forms) are exactly what forgery uses."""
    values = headers.get_all("Content-Type") or []
    media = values[0].split(";", 1)[0].strip(" \t").lower() if len(values) == 1 else ""
    if media != "application/json":
        shown = ", ".join(values) or "none"
        raise HttpError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"Send the body as JSON with Content-Type: application/json (got {shown}).",
            "invalid_request_error",
        )
