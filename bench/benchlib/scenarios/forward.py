"""forward: iperf3 TCP throughput and small-packet UDP packet rate between
two namespaces through a userspace-datapath bridge, with the Linux bridge
on the same veth pairs as the ceiling reference."""

import json
import statistics
import time

from .. import procs
from ..netns import ADDR_B, TwoHosts
from ..procs import Missing
from ..results import Metric
from . import netbed
from .base import Scenario

UDP_PAYLOAD = 18  # 60-byte Ethernet frames: the smallest there are


class Forward(Scenario):
    name = "forward"
    about = "iperf3 TCP and 60-byte UDP through a netdev bridge between namespaces"
    daemon_args = netbed.DAEMON_ARGS
    reference_name = "Linux bridge"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.seconds = 2 if ctx.quick else 10
        self.pings = 50 if ctx.quick else 500
        self.metrics = [Metric("iperf3 TCP", "Gbit/s", "higher"),
                        Metric("iperf3 UDP 60-byte frames, received", "kpps", "higher"),
                        Metric("ping round trip, median", "us", "lower")]
        self.hosts = None
        self.server = None

    def prepare(self):
        self.hosts = TwoHosts("f").__enter__()
        self.hosts.set_tx_offload(self.ctx.tx_offload)
        self.server = procs.Child(self.hosts.exec_argv(self.hosts.ns_b,
                                                       ["iperf3", "-s", "-B", ADDR_B]),
                                  f"{self.ctx.workdir}/iperf3-server.log")

    def close(self):
        if self.server:
            self.server.stop()
        if self.hosts:
            self.hosts.close()

    def _iperf(self, *args):
        argv = self.hosts.exec_argv(self.hosts.ns_a, ["iperf3", "-c", ADDR_B, "-J",
                                                      "-t", str(self.seconds), *args])
        for attempt in range(20):
            done = procs.run(argv, self.seconds + 30, check=False)
            try:
                report = json.loads(done.stdout)
            except ValueError:
                raise Missing(f"iperf3 printed no report: {procs.tail(done.stderr)}") from None
            error = report.get("error")
            # The server needs a moment between tests; it says so.
            if error and "busy" in error and attempt < 19:
                time.sleep(0.5)
                continue
            if error:
                raise Missing(f"iperf3: {error}")
            return report["end"]["sum_received"]

    def _traffic(self, values, what):
        netbed.wait_ping(self.hosts, what)
        tcp = self._iperf()
        values[self.metrics[0].name] = tcp["bits_per_second"] / 1e9
        udp = self._iperf("-u", "-b", "0", "-l", str(UDP_PAYLOAD))
        received = udp["packets"] - udp["lost_packets"]
        values[self.metrics[1].name] = received / udp["seconds"] / 1000
        values[self.metrics[2].name] = self._ping_median_us()

    def _ping_median_us(self):
        argv = self.hosts.exec_argv(self.hosts.ns_a, ["ping", "-n", "-c", str(self.pings),
                                                      "-i", "0.01", "-W", "1", ADDR_B])
        done = procs.run(argv, self.pings * 0.01 + 30, check=False)
        rtts = []
        for word in done.stdout.split():
            if word.startswith("time="):
                try:
                    rtts.append(float(word[5:]) * 1000)  # ping prints ms
                except ValueError:
                    pass
        if len(rtts) < self.pings // 2:
            raise Missing(f"only {len(rtts)} of {self.pings} pings answered")
        return statistics.median(rtts)

    def measure(self, sb, values):
        netbed.start_switch(sb, self.hosts)
        try:
            self._traffic(values, "the netdev bridge")
        except Missing as err:
            raise sb.explain(err) from None

    def reference(self, values):
        self.hosts.add_linux_bridge()
        try:
            self._traffic(values, "the Linux bridge")
        finally:
            self.hosts.del_linux_bridge()
