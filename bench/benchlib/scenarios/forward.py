"""forward: iperf3 TCP throughput and small-packet UDP packet rate between
two namespaces through a userspace-datapath bridge, with the Linux bridge
on the same veth pairs as the ceiling reference.

On a shared 2-core machine the rates depend as much on what else runs as
on the switch (iperf3's own sender and receiver compete with it for the
same cores; the UDP rate is mostly the sender's). So the daemon's CPU
time per unit of traffic is reported too: the switch's cost, which the
machine's load moves much less. (The Linux bridge works in the senders'
softirq context: it has no process to measure.)

iperf3's UDP rate is its endpoints' (the Linux bridge forwards no more
than the switches), so the packet rate is also measured with a flood:
pktgen.py sends 60-byte frames of 32 flows from A as fast as one core
can (sendmmsg, 64 a call), and the frames B's interface received are
counted. The flood offers more than any of the switches forwards, so
that rate is the switch's. B drops them at a full UDP socket
(`pktgen.py sink`): the receiving stack's cheapest path, which the
switch's sending thread pays too (a veth delivers in the sender's
context)."""

import json
import os
import statistics
import sys
import time

from .. import procs
from ..netns import ADDR_B, TwoHosts
from ..procs import Missing
from ..results import Metric
from ..traffic import PKTGEN
from . import netbed
from .base import Scenario

UDP_PAYLOAD = 18  # 60-byte Ethernet frames: the smallest there are
FLOOD_FLOWS = 32


class Forward(Scenario):
    name = "forward"
    about = "iperf3 TCP and 60-byte UDP through a netdev bridge between namespaces"
    daemon_args = netbed.DAEMON_ARGS
    reference_name = "Linux bridge"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.seconds = 2 if ctx.quick else 10
        self.pings = 50 if ctx.quick else 500
        self.flood_seconds = 1 if ctx.quick else 5
        self.metrics = [Metric("iperf3 TCP", "Gbit/s", "higher"),
                        Metric("iperf3 UDP 60-byte frames, received", "kpps", "higher"),
                        Metric("ping round trip, median", "us", "lower"),
                        Metric("daemon CPU per GB of iperf3 TCP", "s", "lower"),
                        Metric("daemon CPU per 1000 UDP frames through the datapath",
                               "ms", "lower"),
                        Metric("60-byte frame flood, received", "kpps", "higher"),
                        Metric("daemon CPU per 1000 flood frames through the datapath",
                               "ms", "lower")]
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

    def _traffic(self, values, what, sb=None):
        netbed.wait_ping(self.hosts, what)
        pid = sb.daemon.pid if sb else None
        cpu0 = _cpu_seconds(pid)
        tcp = self._iperf()
        cpu1 = _cpu_seconds(pid)
        values[self.metrics[0].name] = tcp["bits_per_second"] / 1e9
        lookups0 = _lookups(sb)
        cpu1 = _cpu_seconds(pid)
        udp = self._iperf("-u", "-b", "0", "-l", str(UDP_PAYLOAD))
        cpu2 = _cpu_seconds(pid)
        lookups1 = _lookups(sb)
        received = udp["packets"] - udp["lost_packets"]
        values[self.metrics[1].name] = received / udp["seconds"] / 1000
        values[self.metrics[2].name] = self._ping_median_us()
        if None not in (cpu0, cpu1) and tcp["bytes"] > 0:
            values[self.metrics[3].name] = (cpu1 - cpu0) / (tcp["bytes"] / 1e9)
        # Per frame the datapath looked up (hit or missed), not per frame
        # received: frames lost before the datapath (a full socket buffer)
        # cost it nothing, and those lost after it (at the receiver) cost
        # it the same as delivered ones.
        if None not in (cpu1, cpu2, lookups0, lookups1) and lookups1 > lookups0:
            values[self.metrics[4].name] = (cpu2 - cpu1) * 1000 / ((lookups1 - lookups0) / 1000)
        self._flood(values, pid, sb)

    def _flood(self, values, pid, sb):
        sink = procs.Child(self.hosts.exec_argv(self.hosts.ns_b, [
            sys.executable, PKTGEN, "sink", str(self.flood_seconds + 30)]),
                           f"{self.ctx.workdir}/pktgen-sink.log")
        try:
            procs.wait_for(lambda: "ready" in sink.output_tail(), 10)
            self._flood_through(values, pid, sb)
        finally:
            sink.stop()

    def _flood_through(self, values, pid, sb):
        rx0 = self._rx_packets()
        lookups0 = _lookups(sb)
        cpu0 = _cpu_seconds(pid)
        argv = self.hosts.exec_argv(self.hosts.ns_a, [
            sys.executable, PKTGEN, "flood", self.hosts.a0, str(self.flood_seconds),
            str(FLOOD_FLOWS)])
        done = procs.run(argv, self.flood_seconds + 30, check=False)
        try:
            sent = json.loads(done.stdout)
        except ValueError:
            raise Missing(f"pktgen flood printed no report: {procs.tail(done.stderr)}") from None
        # Frames still queued in the switch arrive just after.
        time.sleep(0.2)
        cpu1 = _cpu_seconds(pid)
        lookups1 = _lookups(sb)
        rx1 = self._rx_packets()
        if sent["sent"] <= 0 or rx1 <= rx0:
            raise Missing("no flood frame from namespace A reached B")
        values[self.metrics[5].name] = (rx1 - rx0) / sent["seconds"] / 1000
        if None not in (cpu0, cpu1, lookups0, lookups1) and lookups1 > lookups0:
            values[self.metrics[6].name] = (cpu1 - cpu0) * 1000 / ((lookups1 - lookups0) / 1000)

    def _rx_packets(self):
        """Frames B's interface has received so far."""
        argv = self.hosts.exec_argv(self.hosts.ns_b, [
            "cat", f"/sys/class/net/{self.hosts.b0}/statistics/rx_packets"])
        out = procs.run(argv, 10).stdout.strip()
        if not out.isdigit():
            raise Missing(f"cannot read {self.hosts.b0}'s receive counter: {out!r}")
        return int(out)

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
            self._traffic(values, "the netdev bridge", sb)
        except Missing as err:
            raise sb.explain(err) from None

    def reference(self, values):
        self.hosts.add_linux_bridge()
        try:
            self._traffic(values, "the Linux bridge")
        finally:
            self.hosts.del_linux_bridge()


def _cpu_seconds(pid):
    """User plus system CPU seconds of process pid (all its threads) so
    far, or None without a pid or /proc."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3; utime and stime 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lookups(sb):
    """Frames the datapath has looked up so far (`dpctl/show`: hit plus
    missed), or None."""
    if sb is None:
        return None
    try:
        out = sb.appctl("dpctl/show").stdout
    except (Missing, RuntimeError):
        return None
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["lookups:"]:
            counts = dict(w.split(":", 1) for w in words[1:] if ":" in w)
            try:
                return int(counts["hit"]) + int(counts["missed"])
            except (KeyError, ValueError):
                return None
    return None
