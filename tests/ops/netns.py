"""Hosts on one machine for the multi-host test: network namespaces joined by veth pairs to a bridge.

The machine's own (root) namespace is the data host (PostgreSQL through a proxy, Redis, the S3 server),
reachable from every host at the bridge's address; each other host is a namespace with one address on the
bridge's subnet and its own loopback. Needs root (CAP_NET_ADMIN); `NetnsUnavailable` says why it could
not be built, and the test skips with that reason.
"""

import secrets
import subprocess
from dataclasses import dataclass, field


class NetnsUnavailable(Exception):
    pass


def _ip(*args: str, netns: str | None = None) -> None:
    argv = ["ip", *(("netns", "exec", netns, "ip") if netns else ()), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise NetnsUnavailable(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")


@dataclass
class Network:
    """A bridge in the root namespace (the data host) and hosts in their own namespaces."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: int = field(default_factory=lambda: 100 + secrets.randbelow(150))
    hosts: dict[str, str] = field(default_factory=dict)  # name -> namespace
    addresses: dict[str, str] = field(default_factory=dict)  # name -> address
    links: list[str] = field(default_factory=list)  # root-side veth ends

    @property
    def bridge(self) -> str:
        return f"b17{self.tag}"

    @property
    def data_address(self) -> str:
        return f"10.217.{self.subnet}.1"

    def up(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.data_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> str:
        number = len(self.hosts) + 2
        namespace, outside, inside = (
            f"s17{self.tag}{name}"[:15],
            f"v{self.tag}{number}",
            f"p{self.tag}{number}",
        )
        _ip("netns", "add", namespace)
        self.hosts[name] = namespace
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        self.links.append(outside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        address = f"10.217.{self.subnet}.{number}"
        _ip("addr", "add", f"{address}/24", "dev", inside, netns=namespace)
        _ip("link", "set", inside, "up", netns=namespace)
        _ip("link", "set", "lo", "up", netns=namespace)
        self.addresses[name] = address
        return address

    def run_in(self, name: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[name], *argv]

    def pids(self, name: str) -> list[int]:
        done = subprocess.run(["ip", "netns", "pids", self.hosts[name]], capture_output=True, text=True)
        return [int(p) for p in done.stdout.split()]

    def down(self) -> None:
        # Deleting the root-side end removes the pair at once, even while a namespace is still
        # referenced (its last process not yet reaped), which would otherwise leave the link behind.
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for namespace in self.hosts.values():
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
