"""A lossy network path made of three private network namespaces, for real retransmissions.

    client ns                 router ns                          server ns
    wsd-lossy-client          wsd-lossy-net                      wsd-lossy
    eth0 192.0.2.11  <-veth->  cli 192.0.2.1 | srv 198.51.100.1  <-veth->  eth0 198.51.100.21
                               iptables FORWARD: drop a random share of client->server TCP

Why a router and not just an iptables rule on one loopback: a packet dropped by the
*sender's own* netfilter (OUTPUT/POSTROUTING) is reported back to TCP as a local error, so
the kernel keeps the segment queued and sends it again moments later as if it were new; the
capture then shows no hole and no retransmission at all (tried: 5 runs, 1-6 drops each, zero
``tcp.analysis`` markers). A drop on a *forwarding* hop is invisible to the sender, exactly
like loss on a real network, so the sender's RTO / fast retransmit has to repair it. tcpdump
runs in the server namespace (``tcpdump -i eth0`` on the server, the usual vantage point of a
support ticket), downstream of the drop, so lost segments are really missing from the file.

Addresses are RFC 5737 documentation prefixes; they exist only inside these namespaces,
which have no link to the host's network. MAC addresses are fixed, locally administered
ones so re-recordings differ only where the traffic does. ``gso_max_size`` = MTU keeps the
kernel from handing 64 KB GSO super-packets to the veths: every captured packet is at most
1500 bytes, as on Ethernet, so a 3208-byte audio frame spans three TCP segments.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Literal

Role = Literal["client", "router", "server"]


@dataclass(frozen=True)
class LossyPath:
    """Names, addresses and the drop rule of the three-namespace path."""

    drop_probability: float = 0.05
    server_ns: str = "wsd-lossy"
    router_ns: str = "wsd-lossy-net"
    client_ns: str = "wsd-lossy-client"
    client_addr: str = "192.0.2.11"  # TEST-NET-1
    server_addr: str = "198.51.100.21"  # TEST-NET-2
    client_gw: str = "192.0.2.1"
    server_gw: str = "198.51.100.1"
    prefix_len: int = 24
    mtu: int = 1500
    capture_iface: str = "eth0"  # in the server namespace

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.server_ns, self.router_ns, self.client_ns)

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

    def setup_commands(self, port: int) -> list[list[str]]:
        """Every command that builds the path, in order (each one logged by the recorder)."""
        c, r, s, mtu = self.client_ns, self.router_ns, self.server_ns, str(self.mtu)
        plen = self.prefix_len
        return [
            *(["ip", "netns", "add", name] for name in self.namespaces),
            ["ip", "link", "add", "eth0", "netns", c, "address", "02:00:00:00:00:11",
             "type", "veth", "peer", "name", "cli", "netns", r, "address", "02:00:00:00:01:01"],
            ["ip", "link", "add", "eth0", "netns", s, "address", "02:00:00:00:00:21",
             "type", "veth", "peer", "name", "srv", "netns", r, "address", "02:00:00:00:02:01"],
            *(["ip", "-n", name, "link", "set", "lo", "up"] for name in self.namespaces),
            ["ip", "-n", c, "link", "set", "eth0", "mtu", mtu, "gso_max_size", mtu, "up"],
            ["ip", "-n", r, "link", "set", "cli", "mtu", mtu, "gso_max_size", mtu, "up"],
            ["ip", "-n", r, "link", "set", "srv", "mtu", mtu, "gso_max_size", mtu, "up"],
            ["ip", "-n", s, "link", "set", "eth0", "mtu", mtu, "gso_max_size", mtu, "up"],
            ["ip", "-n", c, "addr", "add", f"{self.client_addr}/{plen}", "dev", "eth0"],
            ["ip", "-n", r, "addr", "add", f"{self.client_gw}/{plen}", "dev", "cli"],
            ["ip", "-n", r, "addr", "add", f"{self.server_gw}/{plen}", "dev", "srv"],
            ["ip", "-n", s, "addr", "add", f"{self.server_addr}/{plen}", "dev", "eth0"],
            ["ip", "-n", c, "route", "add", "default", "via", self.client_gw],
            ["ip", "-n", s, "route", "add", "default", "via", self.server_gw],
            [*self.exec_prefix("router"), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
            self.drop_rule(port),
        ]  # fmt: skip

    def counters_command(self) -> list[str]:
        """How many packets the drop rule really dropped (read before the namespaces go)."""
        return [*self.exec_prefix("router"), "iptables", "-L", "FORWARD", "-n", "-v", "-x"]

    def existing(self) -> list[str]:
        """Which of our namespaces exist now (e.g. left over from a crashed run)."""
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        present = {line.split()[0] for line in out.splitlines() if line.strip()}
        return [name for name in self.namespaces if name in present]
