"""setup: how fast new datapath flows are set up when every packet needs
its own, and the latency that costs the first packet of a flow.

The bridge runs its default NORMAL rule, so each datapath flow matches the
Ethernet source address exactly (MAC learning needs it), and every frame
gets a source MAC of its own. One process holds a socket in each namespace
and keeps a fixed number of frames in flight: with many in flight the
completion rate is the flow setup rate; with one in flight, each frame's
delay is the cost of a miss (upcall, translation, flow install), beside
the delay of frames of one established flow."""

import statistics

from ..netns import TwoHosts
from ..procs import Missing
from ..results import Metric
from ..traffic import check_path, windowed
from . import netbed
from .base import Scenario

IN_FLIGHT = 32


class Setup(Scenario):
    name = "setup"
    about = "datapath flow setups per second and first-packet latency (NORMAL, netdev)"
    daemon_args = netbed.DAEMON_ARGS

    def __init__(self, ctx):
        super().__init__(ctx)
        self.flows = 2_000 if ctx.quick else 50_000
        self.serial = 100 if ctx.quick else 2_000
        self.max_seconds = 20.0 if ctx.quick else 120.0
        self.metrics = [
            Metric(f"flow setups, {self.flows:,} new flows, {IN_FLIGHT} in flight",
                   "flows/s", "higher"),
            Metric("new-flow frames lost", "%", "lower"),
            Metric("first-packet delay, new flow (upcall)", "us", "lower"),
            Metric("packet delay, established flow", "us", "lower"),
        ]
        self.hosts = None

    def prepare(self):
        self.hosts = TwoHosts("s").__enter__()

    def close(self):
        if self.hosts:
            self.hosts.close()

    def measure(self, sb, values):
        m = [x.name for x in self.metrics]
        netbed.start_switch(sb, self.hosts)
        try:
            check_path(self.hosts, "the netdev bridge")
            burst = windowed(self.hosts, 0, self.flows, IN_FLIGHT, unique=True,
                             max_seconds=self.max_seconds)
            if not burst["completed"]:
                raise Missing("no new-flow frame crossed the bridge")
            values[m[0]] = burst["completed"] / burst["seconds"]
            values[m[1]] = 100 * burst["lost"] / (burst["completed"] + burst["lost"])
            # Sequence numbers (so source MACs) beyond the burst: all new.
            for name, first, unique in ((m[2], self.flows + 1, True),
                                        (m[3], 0x10000000, False)):
                run = windowed(self.hosts, first, self.serial, 1, unique=unique,
                               max_seconds=self.max_seconds)
                if run["completed"] < self.serial // 2:
                    raise Missing(f"only {run['completed']} of {self.serial} "
                                  "one-by-one frames crossed the bridge")
                values[name] = 1e6 * statistics.median(run["delays"])
        except Missing as err:
            raise sb.explain(err) from None
