"""Behind a reverse proxy: the client's address and scheme from forwarding headers.

Swift: none. Perfect reports the TCP peer in ``remoteAddress``, which behind
nginx or a load balancer is the proxy. This does what uvicorn's
``--proxy-headers`` does, and reads RFC 7239 ``Forwarded`` as well.

Only a request whose TCP peer is a trusted proxy (``forwarded_allow_ips``,
127.0.0.1 by default, as uvicorn) is rewritten, so a client that connects
directly cannot claim another address. Of the addresses a chain of proxies
appended, the rightmost one that is *not* a trusted proxy is the client: a
client can put anything on the left of the list, but not past the proxies.
``Forwarded`` wins over ``X-Forwarded-For``/``X-Forwarded-Proto`` when both
are present, since it is the standard and carries both in one element.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol

from .exceptions import PerfectWSError

__all__: list[str] = []

_SCHEMES = frozenset({"http", "https", "ws", "wss"})

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyConfigError(PerfectWSError, ValueError):
    """A ``forwarded_allow_ips`` entry is neither an address, a network nor ``*``."""


class TrustedProxies:
    """The peers whose forwarding headers are believed (package-internal).

    ``spec`` is ``"*"``, or addresses and networks (``10.0.0.0/8``), as an
    iterable or one comma-separated string (the command line's form).
    """

    __slots__ = ("_any", "_networks")

    def __init__(self, spec: str | Iterable[str] = "127.0.0.1") -> None:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        names = [item.strip() for item in items if item.strip()]
        self._any = "*" in names
        self._networks: list[_Network] = []
        for name in names:
            if name == "*":
                continue
            try:
                self._networks.append(ipaddress.ip_network(name, strict=False))
            except ValueError:
                raise ProxyConfigError(
                    f"forwarded_allow_ips: {name!r} is not an IP address, a "
                    "network (10.0.0.0/8) or *"
                ) from None

    def __contains__(self, host: object) -> bool:
        if self._any:
            return True
        if not isinstance(host, str):
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


def forwarded_client(
    peer: tuple[str, int] | None,
    headers: _Headers,
    trusted: TrustedProxies,
) -> tuple[tuple[str, int] | None, str | None]:
    """The client's ``(address, scheme)`` as the proxies say; ``None`` where unsaid.

    ``peer`` is the TCP peer; nothing is read unless it is trusted.
    """
    if peer is None or peer[0] not in trusted:
        return None, None
    forwarded = headers.get_list("Forwarded")
    if forwarded:
        return _from_forwarded(forwarded, trusted)
    return _from_x_forwarded(headers, trusted)


class _Headers(Protocol):
    """What is read of tornado.httputil.HTTPHeaders."""

    def get_list(self, name: str) -> list[str]: ...


def _from_x_forwarded(
    headers: _Headers, trusted: TrustedProxies
) -> tuple[tuple[str, int] | None, str | None]:
    hosts = _split(headers.get_list("X-Forwarded-For"))
    protos = [p.lower() for p in _split(headers.get_list("X-Forwarded-Proto"))]
    index = _client_index([(_host_port(h)[0]) for h in hosts], trusted)
    address = None if index is None else (_host_port(hosts[index])[0], 0)
    scheme = None
    if protos:
        # One proto per hop when a proxy appends both; else the nearest one.
        if index is not None and len(protos) == len(hosts):
            scheme = protos[index]
        else:
            scheme = protos[-1]
    return address, scheme if scheme in _SCHEMES else None


def _from_forwarded(
    values: list[str], trusted: TrustedProxies
) -> tuple[tuple[str, int] | None, str | None]:
    elements = [_parse_element(e) for e in _split(values)]
    fors = [element.get("for", "") for element in elements]
    index = _client_index([_host_port(f)[0] for f in fors], trusted)
    if index is None:
        return None, None
    element = elements[index]
    address = _host_port(fors[index]) if fors[index] else None
    scheme = element.get("proto", "").lower()
    return address, scheme if scheme in _SCHEMES else None


def _client_index(hosts: list[str], trusted: TrustedProxies) -> int | None:
    """The rightmost entry that is not a trusted proxy (else the leftmost)."""
    if not hosts:
        return None
    for index in range(len(hosts) - 1, -1, -1):
        if hosts[index] not in trusted:
            return index
    return 0


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part]


def _parse_element(element: str) -> dict[str, str]:
    """``for=1.2.3.4;proto=https`` -> ``{"for": "1.2.3.4", "proto": "https"}``."""
    pairs: dict[str, str] = {}
    for pair in element.split(";"):
        name, sep, value = pair.partition("=")
        if sep:
            pairs[name.strip().lower()] = value.strip().strip('"')
    return pairs


def _host_port(node: str) -> tuple[str, int]:
    """``1.2.3.4:80``, ``[::1]:80``, ``::1`` or ``_hidden`` -> ``(host, port)``."""
    node = node.strip()
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
    else:
        host, port = node, ""
    return host, int(port) if port.isdigit() else 0
