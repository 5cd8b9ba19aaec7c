"""trace: ofproto/trace calls per second on a 10-table pipeline, through one
open unixctl connection (so the daemon's translation is measured, not the
start-up of ovs-appctl). The call rate is bounded by the round trip to
this Python client as much as by the daemon, so the daemon's own CPU time
per call (all threads, from /proc/PID/task/*/schedstat: receiving the
JSON-RPC request, parsing the flow, translating through the 10 tables,
writing the report) is reported too. Translation alone, without
ofproto/trace's text, is measured by the `setup` scenario's pipeline
burst (daemon CPU per flow setup)."""

import os
import time

from ..procs import Missing
from ..results import Metric
from ..unixctl import Unixctl
from .base import Scenario
from .flowmod import daemon_cpu_seconds

TABLES = 10


def pipeline():
    """Each table: a few rules of different shapes (so lookups visit several
    subtables) that all continue to the next table; the last outputs."""
    lines = []
    for t in range(TABLES):
        nxt = f"resubmit(,{t + 1})" if t + 1 < TABLES else "output:2"
        for i in range(8):
            lines.append(f"table={t},priority=30,tcp,nw_src=10.{t}.{i}.0/24,tp_dst={1000 + i},"
                         f"actions=load:{i}->NXM_NX_REG{t % 8}[],{nxt}")
            lines.append(f"table={t},priority=20,udp,nw_dst=192.168.{t}.{i},"
                         f"actions={nxt}")
            lines.append(f"table={t},priority=10,ip,nw_dst=172.16.{t}.0/24,nw_tos={4 * i},"
                         f"actions=set_field:{i}->reg{(t + 1) % 8},{nxt}")
        lines.append(f"table={t},priority=0,actions={nxt}")
    return "\n".join(lines) + "\n"


def packet(i):
    return (f"in_port=1,tcp,nw_src=10.3.{i % 8}.{i % 250 + 1},nw_dst=172.16.5.{i % 200 + 1},"
            f"tp_src={1024 + i % 50000},tp_dst={1000 + i % 8}")


class Trace(Scenario):
    name = "trace"
    about = "ofproto/trace on a 10-table pipeline, over one unixctl connection"
    daemon_args = ["--enable-dummy", "--disable-system", "--disable-system-route"]

    def __init__(self, ctx):
        super().__init__(ctx)
        self.calls = 300 if ctx.quick else 20_000
        self.seconds = 2.0 if ctx.quick else 20.0
        self.metrics = [Metric("ofproto/trace, 10 tables", "calls/s", "higher"),
                        Metric("daemon CPU per ofproto/trace call", "us", "lower")]
        self.expected = None

    def prepare(self):
        self.flows = os.path.join(self.ctx.workdir, "pipeline.txt")
        with open(self.flows, "w") as f:
            f.write(pipeline())

    def measure(self, sb, values):
        sb.start_daemon()
        sb.add_bridge("br0", "dummy")
        sb.vsctl("add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
                 "ofport_request=1", "--", "add-port", "br0", "p2", "--", "set", "Interface",
                 "p2", "type=dummy", "ofport_request=2")
        sb.ofctl("add-flows", "br0", self.flows)
        with Unixctl(sb.unixctl_path()) as ctl:
            first = ctl.call("ofproto/trace", "br0", packet(0))
            actions = [line for line in first.splitlines()
                       if line.startswith("Datapath actions:")]
            if not actions:
                raise Missing("ofproto/trace printed no 'Datapath actions:' line")
            if "resubmit(,9)" not in first:
                raise Missing("ofproto/trace did not walk all 10 tables")
            # A fast wrong answer must not count: the first daemon measured
            # (stock, in each round's order) sets the expected result.
            if self.expected is None:
                self.expected = actions[0]
            elif actions[0] != self.expected:
                raise Missing(f"ofproto/trace gives '{actions[0]}', stock '{self.expected}'")
            done = 0
            cpu = daemon_cpu_seconds(sb.daemon.pid)
            start = time.monotonic()
            while done < self.calls and time.monotonic() - start < self.seconds:
                ctl.call("ofproto/trace", "br0", packet(done))
                done += 1
            values[self.metrics[0].name] = done / (time.monotonic() - start)
            values[self.metrics[1].name] = 1e6 * (daemon_cpu_seconds(sb.daemon.pid) - cpu) / done
