"""setup: how fast new datapath flows are set up when every packet needs
its own, and the latency that costs the first packet of a flow.

The bridge runs its default NORMAL rule, so each datapath flow matches the
Ethernet source address exactly (MAC learning needs it), and every frame
gets a source MAC of its own. One process holds a socket in each namespace
and keeps a fixed number of frames in flight: with many in flight the
completion rate is the flow setup rate; with one in flight, each frame's
delay is the cost of a miss (upcall, translation, flow install), beside
the delay of frames of one established flow.

Then the same bridge gets a 10-table OpenFlow pipeline instead of NORMAL
(the `trace` scenario's tables, plus a first rule that copies the UDP
source port into a register, which makes every datapath flow match that
port exactly): a second burst, whose frames each carry a port of their
own, measures flow setups that are not MAC learning, through 10 tables.
It stays under the default flow limit (10,000), so that every frame's
flow is installed by both daemons.

Each burst also reports the daemon's own CPU time (all threads, from
/proc/PID/task/*/schedstat) per flow set up: the switch's cost, which
the machine's load and the traffic generator's speed move less than the
rate does."""

import os
import statistics

from ..netns import TwoHosts
from ..procs import Missing
from ..results import Metric
from ..traffic import check_path, windowed
from . import netbed
from .base import Scenario
from .flowmod import daemon_cpu_seconds
from .trace import pipeline

IN_FLIGHT = 32
# Sequence numbers of the pipeline burst: source MACs and UDP source
# ports (40000 + seq % 20000) none of the earlier frames had.
PIPELINE_FIRST = 0x20000000


def port_pipeline():
    """The trace scenario's 10 tables; UDP first has its source port copied
    to a register (so every flow matches it exactly)."""
    return ("table=0,priority=40,udp,actions=move:NXM_OF_UDP_SRC[]->NXM_NX_REG7[0..15],"
            "resubmit(,1)\n" + pipeline())


class Setup(Scenario):
    name = "setup"
    about = "datapath flow setups per second and first-packet latency (NORMAL, netdev)"
    daemon_args = netbed.DAEMON_ARGS

    def __init__(self, ctx):
        super().__init__(ctx)
        self.flows = 2_000 if ctx.quick else 50_000
        self.serial = 100 if ctx.quick else 2_000
        self.pipeline_flows = 2_000 if ctx.quick else 9_000
        self.max_seconds = 20.0 if ctx.quick else 120.0
        self.metrics = [
            Metric(f"flow setups, {self.flows:,} new flows, {IN_FLIGHT} in flight",
                   "flows/s", "higher"),
            Metric("new-flow frames lost", "%", "lower"),
            Metric("first-packet delay, new flow (upcall)", "us", "lower"),
            Metric("packet delay, established flow", "us", "lower"),
            Metric("daemon CPU per flow setup (NORMAL)", "us", "lower"),
            Metric(f"flow setups, 10-table pipeline, per-port flows, "
                   f"{self.pipeline_flows:,} new flows", "flows/s", "higher"),
            Metric("daemon CPU per flow setup (10-table pipeline)", "us", "lower"),
        ]
        self.hosts = None

    def close(self):
        if self.hosts:
            self.hosts.close()

    def prepare(self):
        self.hosts = TwoHosts("s").__enter__()
        self.flows_file = os.path.join(self.ctx.workdir, "setup-pipeline.txt")
        with open(self.flows_file, "w") as f:
            f.write(port_pipeline())

    def burst(self, sb, first, count):
        """A burst of new flows: (completed per second, lost %, daemon CPU
        microseconds per completed frame)."""
        cpu = daemon_cpu_seconds(sb.daemon.pid)
        burst = windowed(self.hosts, first, count, IN_FLIGHT, unique=True,
                         max_seconds=self.max_seconds)
        cpu = daemon_cpu_seconds(sb.daemon.pid) - cpu
        if not burst["completed"]:
            raise Missing("no new-flow frame crossed the bridge")
        return (burst["completed"] / burst["seconds"],
                100 * burst["lost"] / (burst["completed"] + burst["lost"]),
                1e6 * cpu / burst["completed"])

    def measure(self, sb, values):
        m = [x.name for x in self.metrics]
        netbed.start_switch(sb, self.hosts)
        try:
            check_path(self.hosts, "the netdev bridge")
            values[m[0]], values[m[1]], values[m[4]] = self.burst(sb, 0, self.flows)
            # Sequence numbers (so source MACs) beyond the burst: all new.
            for name, first, unique in ((m[2], self.flows + 1, True),
                                        (m[3], 0x10000000, False)):
                run = windowed(self.hosts, first, self.serial, 1, unique=unique,
                               max_seconds=self.max_seconds)
                if run["completed"] < self.serial // 2:
                    raise Missing(f"only {run['completed']} of {self.serial} "
                                  "one-by-one frames crossed the bridge")
                values[name] = 1e6 * statistics.median(run["delays"])
            # No NORMAL flow can match a frame of the pipeline burst (new
            # source MACs): they go stale. Both daemons settle that
            # (translate them again and delete them) before the burst, so
            # that its CPU is the pipeline's flow setups alone.
            sb.ofctl("del-flows", "br0")
            sb.ofctl("add-flows", "br0", self.flows_file)
            sb.appctl("revalidator/wait")
            values[m[5]], _, values[m[6]] = self.burst(sb, PIPELINE_FIRST,
                                                       self.pipeline_flows)
        except Missing as err:
            raise sb.explain(err) from None
