"""The namespace test bed shared by the traffic scenarios: two namespaces
(see netns.TwoHosts) whose root-side veth ends become ports 1 and 2 of a
userspace-datapath (datapath_type=netdev) bridge of the daemon under test."""

import time

from .. import procs
from ..netns import ADDR_B
from ..procs import Missing

# Both daemons get these options: never touch a kernel datapath.
DAEMON_ARGS = ["--disable-system"]


def start_switch(sb, hosts):
    sb.start_daemon()
    sb.add_bridge("br0", "netdev")
    sb.vsctl("add-port", "br0", hosts.a1, "--", "set", "Interface", hosts.a1,
             "ofport_request=1", "--", "add-port", "br0", hosts.b1, "--", "set",
             "Interface", hosts.b1, "ofport_request=2")
    for iface in (hosts.a1, hosts.b1):
        ofport = sb.vsctl("get", "Interface", iface, "ofport").stdout.strip()
        if not ofport.isdigit() or int(ofport) <= 0:
            error = sb.vsctl("get", "Interface", iface, "error").stdout.strip()
            raise Missing(f"port {iface} not added to the netdev bridge "
                          f"(ofport {ofport or '(empty)'}, error {error})")


def wait_ping(hosts, what, timeout=10.0):
    """Waits (bounded) until namespace A pings B through the switch."""
    deadline = time.monotonic() + timeout
    while True:
        done = procs.run(hosts.exec_argv(hosts.ns_a, ["ping", "-c", "1", "-W", "1", ADDR_B]),
                         5, check=False)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise Missing(f"no ping from namespace A to B through {what} in {timeout:g} s")
