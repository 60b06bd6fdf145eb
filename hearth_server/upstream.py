"""Which OpenAI-compatible server the Foundry backend talks to, fixed when serve.py starts.

Explicit configuration wins (`--foundry-url`, then `BASE_URL`, then `FOUNDRY_LOCAL_URL`);
otherwise Foundry Local is looked for: the `foundry` CLI's `service status`, then a quick
probe of its well-known local ports. The page only ever reaches this one upstream.
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hearth_server.deadline import Deadline

WELL_KNOWN_PORTS = (5272, 5273, 51211)
PROBE_TIMEOUT_S = 0.3
CLI_TIMEOUT_S = 5.0
_URL_IN_TEXT = re.compile(r"https?://[A-Za-z0-9.\-]+(?::\d+)?|https?://\[[0-9a-fA-F:]+\](?::\d+)?")

START_HINT = (
    "start it with `foundry service start` (then restart serve.py), "
    "or set BASE_URL to any OpenAI-compatible server"
)


class UpstreamConfigError(ValueError):
    """A configured upstream URL that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Upstream:
    """An OpenAI-compatible server: `base` + `/v1/...` are its API routes.

    `base` may carry a path prefix (the in-process Foundry service serves registered
    models under `/catalogs/local`); the proxy keeps it.
    """

    base: str
    source: str
    api_key: str | None = None
    model: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.base).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.base)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def prefix(self) -> str:
        return urlsplit(self.base).path

    def redact(self, text: str) -> str:
        """`text` (an upstream's own words) without the API key: some servers quote the
        Authorization header they refused, and the page must never see the key."""
        return text.replace(self.api_key, "[API_KEY]") if self.api_key else text

    @property
    def named(self) -> bool:
        """Whether the user named this server as any OpenAI-compatible one (BASE_URL),
        rather than as Foundry Local or serve.py finding Foundry Local."""
        return self.source == "BASE_URL"

    def down(self, why: str) -> str:
        """What the page says when this server does not answer: Foundry Local's way to
        start, and for a URL the user gave, to check what it names."""
        if self.named:
            return (
                f"The server at {self.base} (BASE_URL) is not answering ({why}): check that "
                "it is running, then send again."
            )
        if self.source == "--foundry-url":
            return (
                f"Foundry Local is not answering at {self.base} ({why}): start it with "
                "`foundry service start`, or check the server --foundry-url names, then "
                "send again."
            )
        return f"Foundry Local is not answering at {self.base} ({why}): {START_HINT}."

    def describe(self) -> dict[str, object]:
        return {"url": self.base, "source": self.source, "model": self.model}


def normalize_base(url: str, setting: str) -> str:
    """`http://host:port[/prefix]` without a trailing slash or `/v1` (users paste either)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamConfigError(
            f"{setting}={url!r} is not an http(s) URL; expected e.g. http://127.0.0.1:5272"
        )
    if parts.query or parts.fragment or parts.username:
        raise UpstreamConfigError(f"{setting}={url!r}: use a plain base URL (no query or login)")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise UpstreamConfigError(f"{setting}={url!r} has an invalid port") from None
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return f"{parts.scheme}://{parts.netloc}{path}"


def api_key(env: Mapping[str, str]) -> str | None:
    """API_KEY, trimmed; refused (without echoing it) when it could not be sent as a
    header, rather than failing on every request later."""
    key = (env.get("API_KEY") or "").strip()
    if any(not " " < char < "\x7f" for char in key):
        raise UpstreamConfigError(
            "API_KEY holds a space, a line break or another character a header cannot carry; "
            "set it again with only the key (it is not shown here)."
        )
    return key or None


def configured(flag: str | None, env: Mapping[str, str]) -> Upstream | None:
    """The upstream named by the command line or environment, if any."""
    for setting, value in (
        ("--foundry-url", flag),
        ("BASE_URL", env.get("BASE_URL")),
        ("FOUNDRY_LOCAL_URL", env.get("FOUNDRY_LOCAL_URL")),
    ):
        if value:
            return Upstream(
                normalize_base(value, setting),
                setting,
                api_key=api_key(env),
                model=env.get("MODEL") or None,
            )
    return None


def cli_url(run: Callable[[list[str]], str | None] | None = None) -> str | None:
    """The first URL that `foundry service status` prints, when the CLI is installed."""
    if run is None:
        run = _run_cli
    output = run(["foundry", "service", "status"])
    match = _URL_IN_TEXT.search(output or "")
    return match.group(0) if match else None


def _run_cli(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout + proc.stderr


def answers_models(base: str, timeout: float = PROBE_TIMEOUT_S, api_key: str | None = None) -> bool:
    """Whether `base/v1/models` answers 200 within `timeout` of connecting, however its
    bytes trickle in; with the key when there is one, since a server that needs it (vLLM
    --api-key, Azure) refuses the list without."""
    parts = urlsplit(base)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with Deadline(lambda: connection.sock, timeout) as deadline:  # outlasts any drip
            connection.request("GET", f"{parts.path}/v1/models", headers=headers)
            answered = connection.getresponse().status == 200
        return answered and not deadline.expired
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def detect(
    env: Mapping[str, str],
    run: Callable[[list[str]], str | None] | None = None,
    probe: Callable[[str], bool] = answers_models,
    ports: tuple[int, ...] = WELL_KNOWN_PORTS,
) -> Upstream | None:
    """Foundry Local on this machine: the CLI's answer first, then the well-known ports."""
    key, model = api_key(env), env.get("MODEL") or None
    found = cli_url(run)
    if found:
        return Upstream(normalize_base(found, "foundry service status"), "foundry CLI", key, model)
    for port in ports:
        base = f"http://127.0.0.1:{port}"
        if probe(base):
            # no API_KEY: any local user can listen on these ports, and Foundry Local
            # needs none (a server that does is named with --foundry-url or BASE_URL)
            return Upstream(base, f"probe of port {port}", None, model)
    return None


def resolve_upstream(flag: str | None, env: Mapping[str, str]) -> Upstream | None:
    return configured(flag, env) or detect(env)
