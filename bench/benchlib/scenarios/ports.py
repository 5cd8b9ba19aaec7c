"""ports: adding many ports to a bridge with ovs-vsctl, all in one
transaction and then one at a time, timed until cur_cfg catches up (plain
ovs-vsctl waits for exactly that, bounded by --timeout).

Wall time per add includes ovs-vsctl and ovsdb-server, whose cost grows
with the database for both daemons alike; the daemon's own CPU time per
add (all its threads, sampled around each add) shows whether its
reconfiguration stays incremental as ports accumulate.

BENCH_PORTS=N overrides both sizes (e.g. 300 for a quicker full run)."""

import os
import time

from ..procs import Missing
from ..results import Metric
from .base import Scenario
from .flowmod import daemon_cpu_seconds


class Ports(Scenario):
    name = "ports"
    about = "ovs-vsctl add-port in one transaction and one at a time, until cur_cfg"
    daemon_args = ["--enable-dummy", "--disable-system", "--disable-system-route"]

    def __init__(self, ctx):
        super().__init__(ctx)
        self.batch = 200 if ctx.quick else 1_000
        self.serial = 50 if ctx.quick else 1_000
        size = os.environ.get("BENCH_PORTS", "")
        if size.isdigit() and int(size) >= 10:
            self.batch = self.serial = int(size)
        self.timeout = 60 if ctx.quick else 600
        self.metrics = [
            Metric(f"add {self.batch:,} ports in one transaction", "s", "lower"),
            Metric(f"del-br with {self.batch:,} ports", "s", "lower"),
            Metric(f"add {self.serial:,} ports one at a time", "s", "lower"),
            Metric(f"one at a time: last {max(1, self.serial // 10)} adds, per port",
                   "ms", "lower"),
            # Incremental reconfiguration keeps this near 1 as ports pile up.
            Metric("one at a time: slowdown, last vs first 10% of adds", "x", "lower"),
            Metric("one at a time: daemon CPU per add, first 10%", "ms", "lower"),
            Metric("one at a time: daemon CPU per add, last 10%", "ms", "lower"),
            # The daemon's own growth, without the client's and the server's.
            Metric("one at a time: daemon CPU growth, last vs first 10%", "x", "lower"),
        ]

    def _check_ofport(self, sb, iface):
        ofport = sb.vsctl("get", "Interface", iface, "ofport").stdout.strip()
        if not ofport.isdigit() or int(ofport) <= 0:
            raise Missing(f"interface {iface} got ofport {ofport or '(empty)'}")

    def measure(self, sb, values):
        m = [x.name for x in self.metrics]
        sb.start_daemon()
        sb.add_bridge("br0", "dummy")
        args = []
        for i in range(self.batch):
            args += ["--", "add-port", "br0", f"p{i}", "--", "set", "Interface", f"p{i}",
                     "type=dummy"]
        seconds, _ = sb.timed_vsctl(*args, timeout=self.timeout)
        self._check_ofport(sb, f"p{self.batch - 1}")
        values[m[0]] = seconds
        seconds, _ = sb.timed_vsctl("del-br", "br0", timeout=self.timeout)
        values[m[1]] = seconds

        sb.add_bridge("br1", "dummy")
        each, cpu = [], []
        pid = sb.daemon.pid
        deadline = time.monotonic() + self.timeout
        for i in range(self.serial):
            if time.monotonic() > deadline:
                raise Missing(f"one at a time: only {i} ports added in {self.timeout} s")
            cpu_before = daemon_cpu_seconds(pid)
            seconds, _ = sb.timed_vsctl("add-port", "br1", f"q{i}", "--", "set", "Interface",
                                        f"q{i}", "type=dummy", timeout=30)
            cpu.append(daemon_cpu_seconds(pid) - cpu_before)
            each.append(seconds)
        self._check_ofport(sb, f"q{self.serial - 1}")
        values[m[2]] = sum(each)
        tenth = max(1, self.serial // 10)
        first, last = each[:tenth], each[-tenth:]
        values[m[3]] = 1000 * sum(last) / len(last)
        values[m[4]] = sum(last) / max(sum(first), 1e-9)
        cpu_first, cpu_last = sum(cpu[:tenth]), sum(cpu[-tenth:])
        values[m[5]] = 1000 * cpu_first / tenth
        values[m[6]] = 1000 * cpu_last / tenth
        values[m[7]] = cpu_last / max(cpu_first, 1e-9)
