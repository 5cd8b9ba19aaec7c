"""ports: adding many ports to a bridge with ovs-vsctl, all in one
transaction and then one at a time, timed until cur_cfg catches up (plain
ovs-vsctl waits for exactly that, bounded by --timeout).

Wall time per add includes ovs-vsctl and ovsdb-server, whose cost grows
with the database for both daemons alike; the daemon's own CPU time per
add (all its threads, sampled around each add) shows whether its
reconfiguration stays incremental as ports accumulate.

BENCH_PORTS=N overrides both sizes (e.g. 300 for a quicker full run)."""

import os
import re
import sys
import time

from ..procs import Missing
from ..results import Metric
from .base import Scenario
from .flowmod import daemon_cpu_seconds


def thread_cpu_seconds(pid):
    """CPU time so far of each kind of thread of pid (threads named alike
    but for their numbers, e.g. pmd0-br1 and pmd1-br1, add up), in
    seconds."""
    kinds = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        raise Missing(f"cannot read the threads of process {pid}")
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                kind = re.sub(r"[0-9]+", "N", f.read().strip())
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
        kinds[kind] = kinds.get(kind, 0) + ns / 1e9
    return kinds


def per_thread_report(samples, each, idle, span):
    """Text table: each kind of thread's CPU per add over the first and
    the last `span` adds (samples: one thread_cpu_seconds before each add
    and one after the last; each: the adds' wall times), and the same net
    of what the thread spends while the daemon idles (idle: CPU seconds
    per second of each kind, measured after the adds): threads that wake
    on timers (poll threads, revalidators, handlers) cost more per add
    when an add takes longer, which ovsdb-server and ovs-vsctl make it
    do as the database grows, whatever the daemon does per add."""
    def per_add(a, b, kind):
        return 1000 * (b.get(kind, 0) - a.get(kind, 0)) / span
    wall_first = sum(each[:span]) / span
    wall_last = sum(each[-span:]) / span
    kinds = sorted(set().union(*samples))
    lines = [f"daemon CPU per add by thread, first/last {span} adds (ms), then the same "
             f"net of idle CPU (idle rate x wall time per add: {1000 * wall_first:.1f} "
             f"and {1000 * wall_last:.1f} ms):"]
    for k in kinds:
        first = per_add(samples[0], samples[span], k)
        last = per_add(samples[-1 - span], samples[-1], k)
        rate = idle.get(k, 0)
        net_first = first - 1000 * rate * wall_first
        net_last = last - 1000 * rate * wall_last
        lines.append(f"  {k:<24} {first:8.3f} {last:8.3f}   net {net_first:8.3f} "
                     f"{net_last:8.3f}   idle {1000 * rate:6.2f} ms/s")
    return "\n".join(lines)


def idle_rates(pid, seconds):
    """CPU seconds per second of each kind of thread while nothing
    happens."""
    before = thread_cpu_seconds(pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    after = thread_cpu_seconds(pid)
    spent = time.monotonic() - t0
    return {k: (after.get(k, 0) - before.get(k, 0)) / spent for k in after}


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
        threads = []
        for i in range(self.serial):
            threads.append(thread_cpu_seconds(pid))
            if time.monotonic() > deadline:
                raise Missing(f"one at a time: only {i} ports added in {self.timeout} s")
            cpu_before = daemon_cpu_seconds(pid)
            seconds, _ = sb.timed_vsctl("add-port", "br1", f"q{i}", "--", "set", "Interface",
                                        f"q{i}", "type=dummy", timeout=30)
            cpu.append(daemon_cpu_seconds(pid) - cpu_before)
            each.append(seconds)
        threads.append(thread_cpu_seconds(pid))
        if self.serial >= 100:
            idle = idle_rates(pid, 5.0)
            print(per_thread_report(threads, each, idle, 50), file=sys.stderr, flush=True)
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
