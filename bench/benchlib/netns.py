"""Two network namespaces joined to the root namespace by veth pairs: the
test bed of the traffic scenarios. Traffic flows only between these
namespaces, on addresses inside them; the root-namespace ends of the veth
pairs are what a bridge (OVS, ferrovs or Linux) connects.

    ns A: <a0> 10.251.0.1/24 ==veth== <a1> [bridge] <b1> ==veth== <b0> 10.251.0.2/24 :ns B
"""

import os

from . import procs

ADDR_A = "10.251.0.1"
ADDR_B = "10.251.0.2"


class TwoHosts:
    def __init__(self, tag):
        # Interface names are limited to 15 characters.
        short = f"fvb{os.getpid() % 100000}{tag}"[:11]
        self.ns_a, self.ns_b = f"{short}-nsA", f"{short}-nsB"
        self.a0, self.a1 = f"{short}a0", f"{short}a1"
        self.b0, self.b1 = f"{short}b0", f"{short}b1"
        self.linux_bridge = f"{short}br"
        self.created = []

    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _ip(self, *args):
        procs.run(["ip", *args], 10)

    def _create(self):
        # Fixed MACs: pktgen.py addresses its frames to B's.
        for ns, inner, outer, addr, mac in (
                (self.ns_a, self.a0, self.a1, ADDR_A, "02:00:0a:fb:00:01"),
                (self.ns_b, self.b0, self.b1, ADDR_B, "02:00:0a:fb:00:02")):
            self._ip("netns", "add", ns)
            self.created.append(("netns", ns))
            self._ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self.created.append(("link", outer))
            self._ip("link", "set", inner, "netns", ns)
            self._ip("-n", ns, "link", "set", inner, "address", mac)
            self._ip("-n", ns, "addr", "add", f"{addr}/24", "dev", inner)
            self._ip("-n", ns, "link", "set", inner, "up")
            self._ip("-n", ns, "link", "set", "lo", "up")
            self._ip("link", "set", outer, "up")

    def set_tx_offload(self, on):
        """Turns TX checksum offload of the namespace ends on or off."""
        state = "on" if on else "off"
        for ns, dev in ((self.ns_a, self.a0), (self.ns_b, self.b0)):
            procs.run(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", state], 10)

    def exec_argv(self, ns, argv):
        return ["ip", "netns", "exec", ns, *argv]

    def add_linux_bridge(self):
        self._ip("link", "add", self.linux_bridge, "type", "bridge")
        self.created.append(("link", self.linux_bridge))
        for dev in (self.a1, self.b1):
            self._ip("link", "set", dev, "master", self.linux_bridge)
        self._ip("link", "set", self.linux_bridge, "up")

    def del_linux_bridge(self):
        procs.run(["ip", "link", "del", self.linux_bridge], 10, check=False)
        self.created.remove(("link", self.linux_bridge))

    def close(self):
        """Deletes what was created, last first. Processes still inside our
        namespaces (ours by construction) are killed first."""
        for kind, name in reversed(self.created):
            if kind == "netns":
                pids = procs.run(["ip", "netns", "pids", name], 10, check=False).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), 9)
                    except (ValueError, OSError):
                        pass
                procs.run(["ip", "netns", "del", name], 10, check=False)
            else:
                procs.run(["ip", "link", "del", name], 10, check=False)
        self.created = []
