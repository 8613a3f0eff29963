"""The client's address, read correctly behind the reverse proxies we trust (README, deploy/README.md).

Without TRUSTED_PROXIES the client is REMOTE_ADDR, and X-Forwarded-For is ignored: anyone can send that
header. With it, a request whose REMOTE_ADDR is a trusted proxy is attributed to the right-most
X-Forwarded-For address that is not itself a trusted proxy: each proxy appends the address it saw, so
addresses left of the first untrusted hop were written by the client and mean nothing. django-ipware
(axes' optional helper) reads the header without anchoring trust on REMOTE_ADDR, so a client reaching
the app directly could choose its own address; this rule cannot be fooled that way.
"""

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxy_networks(values: Sequence[str], *, setting: str) -> list[Network]:
    """Parse a list of addresses or CIDR ranges; ImproperlyConfigured naming `setting` on a bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{setting} entry {value!r} is not an address or range: {exc}")
    return networks


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def _trusted(address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks: list[Network] = settings.TRUSTED_PROXY_NETWORKS
    remote_address = _address(remote)
    if not networks or remote_address is None or not _trusted(remote_address, networks):
        return remote
    hops = [_address(part) for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops):
        if hop is None:
            return remote  # a malformed entry: what lies left of it cannot be told apart from forgery
        if not _trusted(hop, networks):
            return str(hop)
    return remote
