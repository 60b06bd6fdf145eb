"""Which hosts are this machine: the one rule behind serve.py's bind warning and the
tests' "no request left loopback" guard."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
