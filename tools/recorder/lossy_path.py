"""A lossy network path made of three private network namespaces, for real retransmissions.

    client ns                  router ns                            server ns
    wsd-lossy-client           wsd-lossy-net                        wsd-lossy
    eth0 127.0.0.11  <-veth->  cli 127.0.1.1 | srv 127.0.2.1  <-veth->  eth0 127.0.0.21
                               iptables FORWARD: drop a random share of client->server TCP

Why a router and not just an iptables rule on one loopback: a packet dropped by the
*sender's own* netfilter (OUTPUT/POSTROUTING) is reported back to TCP as a local error, so
the kernel keeps the segment queued and sends it again moments later as if it were new; the
capture then shows no hole and no retransmission at all (tried: 5 runs, 1-6 drops each, zero
``tcp.analysis`` markers). A drop on a *forwarding* hop is invisible to the sender, exactly
like loss on a real network, so the sender's RTO / fast retransmit has to repair it. tcpdump
runs in the server namespace (``tcpdump -i eth0`` on the server, the usual vantage point of a
support ticket), downstream of the drop, so lost segments are really missing from the file.

Every address is in 127.0.0.0/8 (the project's rule for recordings), which Linux normally
refuses on anything but ``lo`` ("martian" source or destination). So, in each namespace:
``route_localnet=1`` (all, default and per interface) lets the veths send, receive and
forward 127/8; ``lo`` stays DOWN, so there is no ``local 127.0.0.0/8`` route and 127.0.0.21
is not "this host" in the client or router namespace; ``rp_filter=0``. IPv6 is disabled
before the veths exist (no link-local address, router solicitation or MLD), neighbours are
static (no ARP), and the only routes are /32 host routes inside 127/8: there is no default
route, so nothing can be sent anywhere else ("Network is unreachable"), and the namespaces
have no link to the host's network. ``outside_loopback`` checks that after the build, and a
real TCP connect (the probe below) checks the path before the drop rule exists.

MAC addresses are fixed, locally administered ones so re-recordings differ only where the
traffic does. ``gso_max_size`` = MTU keeps the kernel from handing 64 KB GSO super-packets to
the veths: every captured packet is at most 1500 bytes, as on Ethernet, so a 3208-byte audio
frame spans three TCP segments.

Run as a module it is the probe itself: ``python -m tools.recorder.lossy_path listen ADDR
PORT`` (echo one connection, inside the server namespace) and ``... connect SRC ADDR PORT``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["client", "router", "server"]

LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")
PROBE = b"wsdoctor path probe"
PROBE_TIMEOUT = 5.0
# Set in every namespace before any veth exists, so the veths inherit them ("default").
NAMESPACE_SYSCTLS = (
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
    "net.ipv4.conf.all.route_localnet=1",
    "net.ipv4.conf.default.route_localnet=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
)


@dataclass(frozen=True)
class Link:
    """One end of a veth: its namespace role, name, address and MAC."""

    role: Role
    dev: str
    addr: str
    mac: str


@dataclass(frozen=True)
class LossyPath:
    """Names, addresses and the drop rule of the three-namespace path."""

    drop_probability: float = 0.05
    server_ns: str = "wsd-lossy"
    router_ns: str = "wsd-lossy-net"
    client_ns: str = "wsd-lossy-client"
    client_addr: str = "127.0.0.11"
    server_addr: str = "127.0.0.21"
    client_gw: str = "127.0.1.1"  # the router's end of the client veth
    server_gw: str = "127.0.2.1"  # the router's end of the server veth
    mtu: int = 1500
    capture_iface: str = "eth0"  # in the server namespace

    def __post_init__(self) -> None:
        outside = [a for a in self.addresses if ipaddress.ip_address(a) not in LOOPBACK_NET]
        if outside:
            raise ValueError(f"recordings use 127.0.0.0/8 only, not {outside}")

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.client_addr, self.client_gw, self.server_gw, self.server_addr)

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.server_ns, self.router_ns, self.client_ns)

    @property
    def links(self) -> tuple[Link, Link, Link, Link]:
        """Client veth pair, then server veth pair (each: far end, router end)."""
        return (
            Link("client", "eth0", self.client_addr, "02:00:00:00:00:11"),
            Link("router", "cli", self.client_gw, "02:00:00:00:01:01"),
            Link("server", "eth0", self.server_addr, "02:00:00:00:00:21"),
            Link("router", "srv", self.server_gw, "02:00:00:00:02:01"),
        )

    def ns(self, role: Role) -> str:
        return {"client": self.client_ns, "router": self.router_ns, "server": self.server_ns}[role]

    def exec_prefix(self, role: Role) -> list[str]:
        """``ip netns exec`` execs the program in place: the pid we signal is its own."""
        return ["ip", "netns", "exec", self.ns(role)]

    def drop_rule(self, port: int) -> list[str]:
        """iptables on the router: client->server TCP (data and ACKs) dropped at random."""
        return [
            *self.exec_prefix("router"),
            "iptables", "-A", "FORWARD", "-p", "tcp", "-d", self.server_addr,
            "--dport", str(port), "-m", "statistic", "--mode", "random",
            "--probability", str(self.drop_probability), "-j", "DROP",
        ]  # fmt: skip

    def setup_commands(self) -> list[list[str]]:
        """Every command that builds the path, in order (each one logged by the recorder);
        the drop rule comes separately, after the probe."""
        return [
            *(["ip", "netns", "add", name] for name in self.namespaces),
            *(self.sysctl(role, *NAMESPACE_SYSCTLS) for role in ("client", "router", "server")),
            *self.veth_commands(),
            *(["ip", "-n", name, "link", "set", "lo", "down"] for name in self.namespaces),
            *self.route_commands(),
            self.sysctl("router", "net.ipv4.ip_forward=1"),
        ]

    def sysctl(self, role: Role, *settings: str) -> list[str]:
        return [*self.exec_prefix(role), "sysctl", "-q", "-w", *settings]

    def veth_commands(self) -> list[list[str]]:
        """Both veth pairs, created directly in their namespaces, then each end configured."""
        cli, rcli, srv, rsrv = self.links
        argv = []
        for far, near in ((cli, rcli), (srv, rsrv)):
            argv.append(
                ["ip", "link", "add", far.dev, "netns", self.ns(far.role), "address", far.mac,
                 "type", "veth", "peer", "name", near.dev, "netns", self.ns(near.role),
                 "address", near.mac]
            )  # fmt: skip
        for end in self.links:
            argv += self.end_commands(end)
        return argv

    def end_commands(self, end: Link) -> list[list[str]]:
        """Per interface: 127/8 allowed, no reverse-path filter, no IPv6, a /32 address, up."""
        ns, dev, mtu = self.ns(end.role), end.dev, str(self.mtu)
        return [
            self.sysctl(
                end.role,
                f"net.ipv4.conf.{dev}.route_localnet=1",
                f"net.ipv4.conf.{dev}.rp_filter=0",
                f"net.ipv6.conf.{dev}.disable_ipv6=1",
            ),
            ["ip", "-n", ns, "addr", "add", f"{end.addr}/32", "dev", dev],
            ["ip", "-n", ns, "link", "set", dev, "mtu", mtu, "gso_max_size", mtu, "up"],
        ]

    def route_commands(self) -> list[list[str]]:
        """Host routes only (no default route) and static neighbours (no ARP)."""
        cli, rcli, srv, rsrv = self.links
        argv: list[list[str]] = []
        for host, gw, far_end in ((cli, rcli, srv), (srv, rsrv, cli)):
            ns = self.ns(host.role)
            argv += [
                ["ip", "-n", ns, "route", "add", f"{gw.addr}/32", "dev", host.dev],
                ["ip", "-n", ns, "route", "add", f"{far_end.addr}/32", "via", gw.addr,
                 "dev", host.dev, "src", host.addr],
                ["ip", "-n", ns, "neigh", "replace", gw.addr, "lladdr", gw.mac,
                 "dev", host.dev, "nud", "permanent"],
            ]  # fmt: skip
        for host, gw in ((cli, rcli), (srv, rsrv)):
            ns = self.ns(gw.role)
            argv += [
                ["ip", "-n", ns, "route", "add", f"{host.addr}/32", "dev", gw.dev],
                ["ip", "-n", ns, "neigh", "replace", host.addr, "lladdr", host.mac,
                 "dev", gw.dev, "nud", "permanent"],
            ]  # fmt: skip
        return argv

    def probe_commands(self, probe: Sequence[str], port: int) -> tuple[list[str], list[str]]:
        """(listener in the server ns, connector in the client ns) for a one-shot TCP echo;
        ``probe`` is the command that runs this module."""
        listen = [*self.exec_prefix("server"), *probe, "listen", self.server_addr]
        connect = [*self.exec_prefix("client"), *probe, "connect", self.client_addr]
        return [*listen, str(port)], [*connect, self.server_addr, str(port)]

    def counters_command(self) -> list[str]:
        """How many packets the drop rule really dropped (read before the namespaces go)."""
        return [*self.exec_prefix("router"), "iptables", "-L", "FORWARD", "-n", "-v", "-x"]

    def state_commands(self) -> list[list[str]]:
        """Addresses and every routing table of each namespace, for the log."""
        return [
            argv
            for name in self.namespaces
            for argv in (
                ["ip", "-n", name, "-br", "addr"],
                ["ip", "-n", name, "route", "show", "table", "all"],
            )
        ]

    def outside_loopback(self) -> list[str]:
        """Any address or route of ours that is not inside 127.0.0.0/8 (must be none)."""
        found = []
        for name in self.namespaces:
            for what in (["addr"], ["route", "show", "table", "all"]):
                out = subprocess.run(
                    ["ip", "-j", "-n", name, *what], capture_output=True, text=True, check=True
                ).stdout
                found += [f"{name}: {p}" for p in _prefixes(json.loads(out)) if not _inside(p)]
        return found

    def existing(self) -> list[str]:
        """Which of our namespaces exist now (e.g. left over from a crashed run)."""
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        present = {line.split()[0] for line in out.splitlines() if line.strip()}
        return [name for name in self.namespaces if name in present]


def _prefixes(rows: list[dict[str, Any]]) -> list[str]:
    """Addresses (``ip -j addr``) or destinations (``ip -j route``) in iproute2's JSON."""
    found = []
    for row in rows:
        if "dst" in row:
            found.append(str(row["dst"]))
        for info in row.get("addr_info", []):
            found.append(str(info["local"]))
    return found


def _inside(prefix: str) -> bool:
    """Inside 127.0.0.0/8 (``default`` and IPv6 prefixes are not)."""
    if prefix == "default":
        return False
    net = ipaddress.ip_network(prefix, strict=False)
    return isinstance(net, ipaddress.IPv4Network) and net.subnet_of(LOOPBACK_NET)


def listen(addr: str, port: int) -> None:
    """Accept one connection, echo what it sends, wait for its FIN, close."""
    with socket.create_server((addr, port)) as server:
        server.settimeout(PROBE_TIMEOUT)
        print(f"probe listening on {addr}:{port}", flush=True)
        conn, peer = server.accept()
        with conn:
            conn.settimeout(PROBE_TIMEOUT)
            conn.sendall(conn.recv(len(PROBE)))
            conn.recv(1)  # the client's FIN: it closes first, so no TIME_WAIT on the port
        print(f"probe echoed to {peer[0]}:{peer[1]}", flush=True)


def connect(src: str, addr: str, port: int) -> None:
    """Connect from ``src`` and check the echo; any failure is an exception (exit 1)."""
    with socket.create_connection((addr, port), PROBE_TIMEOUT, source_address=(src, 0)) as conn:
        conn.sendall(PROBE)
        echo = conn.recv(len(PROBE))
    if echo != PROBE:
        raise SystemExit(f"probe: got {echo!r} back")
    print(f"probe: {src} -> {addr}:{port} works", flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["listen"] and len(argv) == 3:
        listen(argv[1], int(argv[2]))
    elif argv[:1] == ["connect"] and len(argv) == 4:
        connect(argv[1], argv[2], int(argv[3]))
    else:
        raise SystemExit("usage: lossy_path listen ADDR PORT | connect SRC ADDR PORT")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
