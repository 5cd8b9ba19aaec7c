"""setup: how fast new datapath flows are set up when every packet needs
its own, and the latency that costs the first packet of a flow.

The bridge runs its default NORMAL rule, so each datapath flow matches the
Ethernet source address exactly (MAC learning needs it); the sender gives
every frame a source MAC of its own. A burst measures setups per second
(frames delivered over the time from first sent to last received); paced
frames measure the one-way delay of a new flow's first packet, and of
packets of one established flow for comparison."""

import statistics

from ..netns import TwoHosts
from ..procs import Missing
from ..results import Metric
from ..traffic import Exchange, check_path
from . import netbed
from .base import Scenario


class Setup(Scenario):
    name = "setup"
    about = "datapath flow setups per second and first-packet latency (NORMAL, netdev)"
    daemon_args = netbed.DAEMON_ARGS

    def __init__(self, ctx):
        super().__init__(ctx)
        self.burst = 2_000 if ctx.quick else 20_000
        self.paced = 50 if ctx.quick else 500
        self.metrics = [
            Metric(f"flow setups, burst of {self.burst:,} new flows", "flows/s", "higher"),
            Metric("burst frames delivered", "%", "higher"),
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
            burst = Exchange(self.hosts).run(first=0, count=self.burst, interval=0,
                                             unique=True, settle=1.0)
            arrived = burst.delivered()
            if not arrived:
                raise Missing("no frame of the burst arrived")
            sent = [t for t in burst.tx.values() if t is not None]
            span = max(burst.rx[s] for s in arrived) - min(sent)
            values[m[0]] = len(arrived) / span
            values[m[1]] = 100 * len(arrived) / len(sent)

            # Sequence numbers (so source MACs) beyond the burst: all new.
            fresh = Exchange(self.hosts).run(first=self.burst + 1, count=self.paced,
                                             interval=0.005, unique=True)
            same = Exchange(self.hosts).run(first=0x10000000, count=self.paced,
                                            interval=0.005, unique=False)
            for name, run in ((m[2], fresh), (m[3], same)):
                delays = run.delays()
                if len(delays) < self.paced // 2:
                    raise Missing(f"only {len(delays)} of {self.paced} paced frames arrived")
                values[name] = 1e6 * statistics.median(delays)
        except Missing as err:
            raise sb.explain(err) from None
