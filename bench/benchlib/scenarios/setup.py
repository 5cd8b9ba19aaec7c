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
It is sent PIPELINE_BURSTS times, the datapath's flows purged
(`revalidator/purge`, then `revalidator/wait`) before each but the first,
and the rows add them up: one burst of 8,000 lasts about a tenth of a
second, so whether a revalidator pass or another thread's wake-up fell
inside it moved a single burst's figures by up to a quarter. Right after
the last, the same frames are sent again: their flows are now
installed, so that rate is the path's own limit (frames through the
switch, the generator and the namespaces' stacks) with no flow setup: the
ceiling of the burst's setup rate. Then, one at a time, frames with UDP
source ports none of the earlier frames had (a new datapath flow each:
the first-packet delay, 10 tables) and frames of one established flow
(port 39999, `oneflow`), alternating in chunks: the difference of their
median delays is what a new flow costs, as a packet sees it (upcall, translation through the 10 tables, flow install
and execution). All this stays under the default flow limit (10,000
datapath flows) for both daemons: the pipeline burst is 8,000 frames and
the one-by-one new flows 1,000 (checked: each one's flow is found in
`dpctl/dump-flows`).

The frames are sent and timed by pktgen-window (bench/src/pktgen_window.rs),
or by pktgen.py window with `bench/run --pktgen python`.

Each burst also reports the daemon's own CPU time (all threads, from
/proc/PID/task/*/schedstat) per flow set up: the switch's cost, which
the machine's load and the traffic generator's speed move less than the
rate does."""

import os
import re
import statistics
import sys

from ..netns import TwoHosts
from ..procs import Missing
from ..results import Metric
from ..traffic import check_path, windowed
from . import netbed
from .base import Scenario
from .flowmod import daemon_cpu_seconds
from .trace import pipeline

IN_FLIGHT = 32
# Bursts of the same new flows through the pipeline, the flows purged
# between them (module docstring); fewer with --quick.
PIPELINE_BURSTS = 3
# Sequence numbers of the pipeline burst: source MACs and UDP source
# ports (40000 + seq % 20000) none of the earlier frames had. The
# one-by-one new flows of the pipeline follow them (ports the burst did not
# use, as long as both together stay below 20,000 frames).
PIPELINE_FIRST = 0x20000000
# Sequence numbers of one-by-one frames of an established flow.
ESTABLISHED_FIRST = 0x10000000
ESTABLISHED_PIPELINE_FIRST = 0x30000000
FLOW_LIMIT = 10_000
# The pipeline's one-by-one new and established frames alternate in
# this many chunks of each.
SERIAL_CHUNKS = 5
UDP_SRC = re.compile(r"udp\(src=(\d+)[,)]")


def udp_port(seq):
    """The UDP source port of pktgen's numbered frame seq."""
    return 40000 + seq % 20000


def datapath_flows(sb):
    """The datapath's flows (dpctl/dump-flows): (how many, the UDP source
    ports matched exactly)."""
    out = sb.appctl("dpctl/dump-flows", timeout=30).stdout
    flows = [line for line in out.splitlines() if "actions:" in line]
    ports = {int(m.group(1)) for line in flows for m in UDP_SRC.finditer(line)}
    return len(flows), ports


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
        self.pipeline_flows = 2_000 if ctx.quick else 8_000
        self.pipeline_serial = 100 if ctx.quick else 1_000
        self.pipeline_bursts = 2 if ctx.quick else PIPELINE_BURSTS
        # Distinct UDP source ports, and room under the flow limit.
        assert self.pipeline_flows + self.pipeline_serial < min(20_000, FLOW_LIMIT)
        self.max_seconds = 20.0 if ctx.quick else 120.0
        self.metrics = [
            Metric(f"flow setups, {self.flows:,} new flows, {IN_FLIGHT} in flight",
                   "flows/s", "higher"),
            Metric("new-flow frames lost", "%", "lower"),
            Metric("first-packet delay, new flow (upcall)", "us", "lower"),
            Metric("packet delay, established flow", "us", "lower"),
            Metric("daemon CPU per flow setup (NORMAL)", "us", "lower"),
            Metric(f"flow setups, 10-table pipeline, per-port flows, "
                   f"{self.pipeline_bursts} x {self.pipeline_flows:,} new flows", "flows/s",
                   "higher"),
            Metric("daemon CPU per flow setup (10-table pipeline)", "us", "lower"),
            Metric(f"ceiling: the same {self.pipeline_flows:,} frames again, flows "
                   f"installed, {IN_FLIGHT} in flight (10-table pipeline)",
                   "frames/s", "higher"),
            Metric("first-packet delay, new flow, 10-table pipeline (upcall)", "us", "lower"),
            Metric("packet delay, established flow, 10-table pipeline", "us", "lower"),
            Metric("upcall cost per new flow, 10-table pipeline "
                   "(first-packet minus established delay)", "us", "lower"),
            Metric("daemon CPU per new flow, one at a time, 10-table pipeline "
                   "(minus per established frame)", "us", "lower"),
            Metric("daemon CPU per flow setup beyond forwarding, 10-table pipeline "
                   "(burst minus the same frames again, flows installed)", "us", "lower"),
        ]
        self.hosts = None

    def close(self):
        if self.hosts:
            self.hosts.close()

    def prepare(self):
        # The traffic generator: pktgen-window, unless bench/run was told
        # to use pktgen.py (--pktgen python); a failed build is a reason.
        if "pktgen-window missing" in self.ctx.tools:
            raise Missing(self.ctx.tools["pktgen-window missing"])
        self.generator = self.ctx.tools.get("pktgen-window")
        self.hosts = TwoHosts("s").__enter__()
        self.flows_file = os.path.join(self.ctx.workdir, "setup-pipeline.txt")
        with open(self.flows_file, "w") as f:
            f.write(port_pipeline())

    def burst(self, sb, first, count, times=1):
        """times bursts of the same count new flows, the datapath's flows
        purged before each but the first: (completed per second, lost %,
        daemon CPU microseconds per completed frame), all bursts together."""
        completed = lost = 0
        seconds = cpu = 0.0
        for n in range(times):
            if n:
                sb.appctl("revalidator/purge")
                sb.appctl("revalidator/wait")
            before = daemon_cpu_seconds(sb.daemon.pid)
            burst = windowed(self.hosts, first, count, IN_FLIGHT, "unique",
                             max_seconds=self.max_seconds, generator=self.generator)
            spent = daemon_cpu_seconds(sb.daemon.pid) - before
            cpu += spent
            if times > 1:
                print(f"bench: setup: burst {n + 1} of {times}: "
                      f"{burst['completed'] / max(burst['seconds'], 1e-9):,.0f} flows/s, "
                      f"{1e6 * spent / max(burst['completed'], 1):.2f} us daemon CPU per setup",
                      file=sys.stderr, flush=True)
            completed += burst["completed"]
            lost += burst["lost"]
            seconds += burst["seconds"]
        if not completed:
            raise Missing("no new-flow frame crossed the bridge")
        return completed / seconds, 100 * lost / (completed + lost), 1e6 * cpu / completed

    def delays(self, first, count, mode):
        """The delays in seconds of count frames sent one at a time."""
        run = windowed(self.hosts, first, count, 1, mode, max_seconds=self.max_seconds,
                       generator=self.generator)
        if run["completed"] < count // 2:
            raise Missing(f"only {run['completed']} of {count} one-by-one frames "
                          "crossed the bridge")
        return run["delays"]

    def one_by_one(self, first, count, mode):
        """The median delay in microseconds of count frames sent one at a
        time."""
        return 1e6 * statistics.median(self.delays(first, count, mode))

    def new_and_established(self, sb, first, count):
        """count new flows (numbered from first) and count frames of one
        established flow, sent one at a time in alternating chunks, so
        that both see the same moments of the machine's load and of the
        daemon's background work: (median delay of a new flow, median
        delay of an established one, in microseconds; the daemon's CPU
        microseconds per new flow minus per established frame)."""
        delays = {"unique": [], "oneflow": []}
        cpu = {"unique": 0.0, "oneflow": 0.0}
        chunk = -(-count // SERIAL_CHUNKS)
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            for mode, seq in (("unique", first + start),
                              ("oneflow", ESTABLISHED_PIPELINE_FIRST + start)):
                before = daemon_cpu_seconds(sb.daemon.pid)
                delays[mode] += self.delays(seq, n, mode)
                cpu[mode] += daemon_cpu_seconds(sb.daemon.pid) - before
        new, established = (1e6 * statistics.median(delays[m]) for m in ("unique", "oneflow"))
        extra_cpu = 1e6 * (cpu["unique"] / len(delays["unique"]) -
                           cpu["oneflow"] / len(delays["oneflow"]))
        return new, established, extra_cpu

    def check_installed(self, sb, first, count):
        """Raises Missing unless the datapath holds a flow for (nearly)
        every one of the count new flows from first on: a daemon that
        forwarded them without installing flows would be timed on a
        cheaper path."""
        total, ports = datapath_flows(sb)
        wanted = {udp_port(first + n) for n in range(count)}
        found = len(wanted & ports)
        print(f"bench: setup: {total} datapath flows, {found} of the {count} one-by-one "
              "new flows among them", file=sys.stderr, flush=True)
        if found < 0.9 * count:
            raise Missing(f"datapath flows found for only {found} of {count} one-by-one "
                          f"new flows ({total} flows in all)")

    def measure(self, sb, values):
        m = [x.name for x in self.metrics]
        netbed.start_switch(sb, self.hosts)
        try:
            check_path(self.hosts, "the netdev bridge")
            values[m[0]], values[m[1]], values[m[4]] = self.burst(sb, 0, self.flows)
            # Sequence numbers (so source MACs) beyond the burst: all new.
            values[m[2]] = self.one_by_one(self.flows + 1, self.serial, "unique")
            values[m[3]] = self.one_by_one(ESTABLISHED_FIRST, self.serial, "same")
            # No NORMAL flow can match a frame of the pipeline burst (new
            # source MACs): they go stale. Both daemons settle that
            # (translate them again and delete them) before the burst, so
            # that its CPU is the pipeline's flow setups alone.
            sb.ofctl("del-flows", "br0")
            sb.ofctl("add-flows", "br0", self.flows_file)
            sb.appctl("revalidator/wait")
            values[m[5]], _, values[m[6]] = self.burst(sb, PIPELINE_FIRST,
                                                       self.pipeline_flows,
                                                       self.pipeline_bursts)
            # Whether the burst installed its flows: a flow left for the
            # ceiling pass to set up would count against the pass.
            total, ports = datapath_flows(sb)
            burst_ports = {udp_port(PIPELINE_FIRST + n) for n in range(self.pipeline_flows)}
            print(f"bench: setup: after the pipeline burst {total} datapath flows, "
                  f"{len(burst_ports & ports)} of the {self.pipeline_flows} burst flows among them",
                  file=sys.stderr, flush=True)
            cpu = daemon_cpu_seconds(sb.daemon.pid)
            again = windowed(self.hosts, PIPELINE_FIRST, self.pipeline_flows, IN_FLIGHT,
                             "unique", max_seconds=self.max_seconds, generator=self.generator)
            cpu = daemon_cpu_seconds(sb.daemon.pid) - cpu
            if again["completed"]:
                values[m[7]] = again["completed"] / again["seconds"]
                # What a frame costs the daemon when its flow is installed
                # (receive, lookup, execute, send: mostly the kernel's
                # veth and the far namespace's stack, the same for both
                # daemons) taken from what it cost when the flow had to
                # be set up: the setup's own cost, translation included.
                values[m[12]] = values[m[6]] - 1e6 * cpu / again["completed"]
            # The one-by-one frames start after a settled revalidation
            # round, like the burst.
            sb.appctl("revalidator/wait")
            first = PIPELINE_FIRST + self.pipeline_flows
            new, established, cpu = self.new_and_established(sb, first, self.pipeline_serial)
            self.check_installed(sb, first, self.pipeline_serial)
            values[m[8]], values[m[9]] = new, established
            values[m[10]] = new - established
            values[m[11]] = cpu
        except Missing as err:
            raise sb.explain(err) from None
