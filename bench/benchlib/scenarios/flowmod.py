"""flowmod: ovs-ofctl add-flows, dump-flows, replace-flows and del-flows of
many rules on one bridge, and the daemon's memory growth per 100,000 rules
(resident set size before and after add-flows, scaled).

ovs-ofctl sends each rule with a barrier and waits for its reply, so the
wall-clock times are one round trip per rule and, on a busy machine, mostly
scheduling delay. The CPU time the daemon itself spent in add-flows and
replace-flows (all its threads, from /proc/PID/task/*/schedstat) is also
reported: it moves far less with the machine's load.

Last, the same rules go in again as one `ovs-ofctl --bundle add-flows`
(an OpenFlow 1.4 atomic bundle: the flow_mods stream with no barrier
after each), which shows the daemon's own throughput rather than the
round trips; plain add-flows stays the headline figure.

Each round ends with a reference (the floor): the same `ovs-ofctl
add-flows` and `--bundle add-flows` of the same file against
`ofp-null-responder` (bench/src/ofp_null_responder.rs), an OpenFlow peer
that does no switch work at all and never makes ovs-ofctl wait for it to
wake up. What remains there is ovs-ofctl's own work, the kernel's and the
scheduler's: the time no switch can go below on this machine. The CPU
time ovs-ofctl itself used is measured in all three (from the harness's
resource usage of its waited children)."""

import os
import resource
import time

from .. import procs
from ..procs import Missing
from ..results import Metric
from .base import Scenario


def rule(i, out_port):
    return (f"priority={100 + i % 50},tcp,nw_src=10.{(i >> 16) & 255}.{(i >> 8) & 255}."
            f"{i & 255},tp_dst={1 + i % 1000},actions=output:{out_port}\n")


def daemon_cpu_seconds(pid):
    """CPU time of all threads of pid so far, in seconds (nanosecond
    resolution, from the scheduler's statistics)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that just ended
    except OSError:
        raise Missing(f"cannot read the CPU time of process {pid}")
    return total / 1e9


def daemon_switches(pid):
    """Context switches (voluntary and not) of all threads of pid so far."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches",
                                            "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                pass  # a thread that just ended
    except OSError:
        raise Missing(f"cannot read the context switches of process {pid}")
    return total


def children_cpu_seconds():
    """User plus system CPU time of the harness's children waited for so
    far (a command run by procs.run counts once it has exited)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def count_rules(dump_text):
    # dump-flows prints one header line ("NXST_FLOW reply ...") then one
    # line per rule.
    return sum(1 for line in dump_text.splitlines() if "actions=" in line)


class FlowMod(Scenario):
    name = "flowmod"
    about = "OpenFlow rule add/dump/replace/delete with ovs-ofctl, memory per rule"
    daemon_args = ["--enable-dummy", "--disable-system", "--disable-system-route"]
    reference_name = "against a responder that does nothing (floor)"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.rules = 1_000 if ctx.quick else 100_000
        self.timeout = 60 if ctx.quick else 600
        self.metrics = [
            Metric(f"add-flows {self.rules:,} rules", "s", "lower"),
            Metric(f"dump-flows {self.rules:,} rules", "s", "lower"),
            Metric(f"replace-flows, half changed", "s", "lower"),
            Metric(f"del-flows {self.rules:,} rules", "s", "lower"),
            Metric("memory growth per 100,000 rules", "MB", "lower"),
            Metric("daemon CPU time, add-flows", "s", "lower"),
            Metric("daemon CPU time, replace-flows", "s", "lower"),
            Metric(f"add-flows --bundle {self.rules:,} rules", "s", "lower"),
            Metric("daemon CPU time, add-flows --bundle", "s", "lower"),
            Metric("daemon context switches per rule, add-flows", "", "lower"),
            Metric("ovs-ofctl CPU time, add-flows", "s", "lower"),
        ]
        self.reference_metrics = {self.metrics[i].name for i in (0, 7, 10)}

    def prepare(self):
        self.add_file = os.path.join(self.ctx.workdir, "flows.txt")
        self.replace_file = os.path.join(self.ctx.workdir, "flows-replace.txt")
        with open(self.add_file, "w") as f:
            f.writelines(rule(i, 1) for i in range(self.rules))
        with open(self.replace_file, "w") as f:
            f.writelines(rule(i, 2 if i % 2 else 1) for i in range(self.rules))

    def _expect_rules(self, sb, expected, step):
        seconds, done = sb.timed_tool(["ovs-ofctl", "dump-flows", "br0"], self.timeout)
        have = count_rules(done.stdout)
        if have != expected:
            raise Missing(f"after {step}, dump-flows shows {have} rules, expected {expected}")
        return seconds

    def measure(self, sb, values):
        m = [x.name for x in self.metrics]
        daemon = sb.start_daemon()
        sb.add_bridge("br0", "dummy")
        sb.ofctl("del-flows", "br0")
        time.sleep(0.5)
        rss_before = procs.rss_kib(daemon.pid)
        cpu_before = daemon_cpu_seconds(daemon.pid)
        switches_before = daemon_switches(daemon.pid)
        ofctl_before = children_cpu_seconds()
        seconds, _ = sb.timed_tool(["ovs-ofctl", "add-flows", "br0", self.add_file],
                                   self.timeout)
        values[m[10]] = children_cpu_seconds() - ofctl_before
        values[m[0]] = seconds
        values[m[5]] = daemon_cpu_seconds(daemon.pid) - cpu_before
        values[m[9]] = (daemon_switches(daemon.pid) - switches_before) / self.rules
        values[m[1]] = self._expect_rules(sb, self.rules, "add-flows")
        time.sleep(0.5)
        rss_after = procs.rss_kib(daemon.pid)
        values[m[4]] = (rss_after - rss_before) / 1024 * 100_000 / self.rules
        cpu_before = daemon_cpu_seconds(daemon.pid)
        seconds, _ = sb.timed_tool(["ovs-ofctl", "replace-flows", "br0", self.replace_file],
                                   self.timeout)
        values[m[6]] = daemon_cpu_seconds(daemon.pid) - cpu_before
        self._check_replaced(sb)
        values[m[2]] = seconds
        seconds, _ = sb.timed_tool(["ovs-ofctl", "del-flows", "br0"], self.timeout)
        self._expect_rules(sb, 0, "del-flows")
        values[m[3]] = seconds
        time.sleep(0.5)
        cpu_before = daemon_cpu_seconds(daemon.pid)
        seconds, _ = sb.timed_tool(["ovs-ofctl", "--bundle", "add-flows", "br0", self.add_file],
                                   self.timeout)
        values[m[8]] = daemon_cpu_seconds(daemon.pid) - cpu_before
        values[m[7]] = seconds
        self._expect_rules(sb, self.rules, "add-flows --bundle")

    def _check_replaced(self, sb):
        dump = sb.ofctl("dump-flows", "br0", timeout=self.timeout).stdout
        to_port_2 = sum(1 for line in dump.splitlines() if "actions=output:2" in line)
        if to_port_2 != self.rules // 2 or count_rules(dump) != self.rules:
            raise Missing(f"after replace-flows, {to_port_2} rules output to port 2 "
                          f"(expected {self.rules // 2}) of {count_rules(dump)}")

    def reference(self, values):
        """The floor: the same commands of the same files, against a peer
        that answers only what ovs-ofctl waits for."""
        responder = self.ctx.tools.get("ofp-null-responder")
        if not responder:
            raise Missing(self.ctx.tools.get("ofp-null-responder missing",
                                             "no ofp-null-responder"))
        m = [x.name for x in self.metrics]
        sock = os.path.join(self.ctx.workdir, "null-responder.sock")
        child = procs.Child([responder, sock], os.path.join(self.ctx.workdir,
                                                            "null-responder.log"))
        try:
            procs.wait_for(lambda: os.path.exists(sock) or child.exited(), 10)
            if child.exited() or not os.path.exists(sock):
                raise Missing(f"ofp-null-responder did not start: "
                              f"{child.exited() or 'no socket after 10 s'}")
            target = "unix:" + sock
            ofctl_before = children_cpu_seconds()
            seconds, _ = procs.timed(["ovs-ofctl", "add-flows", target, self.add_file],
                                     self.timeout)
            values[m[10]] = children_cpu_seconds() - ofctl_before
            values[m[0]] = seconds
            time.sleep(0.5)
            seconds, _ = procs.timed(["ovs-ofctl", "--bundle", "add-flows", target,
                                      self.add_file], self.timeout)
            values[m[7]] = seconds
        finally:
            child.stop()
