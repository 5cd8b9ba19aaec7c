"""restart: frames lost while the daemon restarts under steady traffic
between two namespaces (netdev bridge), once plainly and once the way
ovs-ctl restarts with other_config:flow-restore-wait (flows saved, the
daemon started with flow-restore-wait=true, flows restored, the option
removed). Both daemons get exactly the same procedure."""

import os

from .. import procs
from ..netns import TwoHosts
from ..procs import Missing
from ..results import Metric
from ..traffic import Exchange, check_path
from . import netbed
from .base import Scenario

FLOWS = "priority=100,in_port=1,actions=output:2\npriority=100,in_port=2,actions=output:1\n"


class Restart(Scenario):
    name = "restart"
    about = "frames lost during a daemon restart, plain and with flow-restore-wait"
    daemon_args = netbed.DAEMON_ARGS

    def __init__(self, ctx):
        super().__init__(ctx)
        self.rate = 1000                     # frames per second
        self.seconds = 4 if ctx.quick else 10
        self.restart_at = 1.0
        self.metrics = [
            Metric("frames lost, plain restart", "frames", "lower"),
            Metric("longest gap, plain restart", "ms", "lower"),
            Metric("frames lost, flow-restore-wait restart", "frames", "lower"),
            Metric("longest gap, flow-restore-wait restart", "ms", "lower"),
        ]
        self.hosts = None

    def prepare(self):
        self.hosts = TwoHosts("r").__enter__()

    def close(self):
        if self.hosts:
            self.hosts.close()

    def measure(self, sb, values):
        m = [x.name for x in self.metrics]
        netbed.start_switch(sb, self.hosts)
        flows = sb.path("flows.txt")
        with open(flows, "w") as f:
            f.write(FLOWS)
        sb.ofctl("add-flows", "br0", flows)
        try:
            check_path(self.hosts, "the netdev bridge")
            self._one(sb, lambda: self._plain(sb), m[0], m[1], values)
            check_path(self.hosts, "the netdev bridge after a restart")
            sb.ofctl("add-flows", "br0", flows)
            self._one(sb, lambda: self._restore_wait(sb), m[2], m[3], values)
        except Missing as err:
            raise sb.explain(err) from None

    def _one(self, sb, restart, lost_name, gap_name, values):
        count = int(self.rate * self.seconds)
        run = Exchange(self.hosts).run(first=0, count=count, interval=1 / self.rate,
                                       unique=False, during=restart,
                                       during_at=self.restart_at, settle=1.0,
                                       timeout=self.seconds + 30)
        if not run.rx:
            raise Missing("no frame arrived at all")
        values[lost_name] = run.lost()
        values[gap_name] = 1000 * run.longest_gap()

    def _plain(self, sb):
        sb.stop_daemon()
        sb.start_daemon()

    def _restore_wait(self, sb):
        saved = sb.path("saved-flows.txt")
        dump = sb.ofctl("dump-flows", "--no-stats", "--no-names", "br0").stdout
        with open(saved, "w") as f:
            f.writelines(line.strip() + "\n" for line in dump.splitlines()
                         if "actions=" in line)
        sb.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                 "other_config:flow-restore-wait=true")
        sb.stop_daemon()
        sb.start_daemon()
        # The bridge's OpenFlow socket appears once the daemon has configured
        # it; ovs-ofctl retries are bounded.
        mgmt = sb.path("br0.mgmt")
        if not procs.wait_for(lambda: os.path.exists(mgmt), 10):
            raise Missing("br0.mgmt did not come back within 10 s of the restart")
        sb.ofctl("add-flows", "br0", saved)
        sb.vsctl("--no-wait", "remove", "Open_vSwitch", ".", "other_config",
                 "flow-restore-wait")
