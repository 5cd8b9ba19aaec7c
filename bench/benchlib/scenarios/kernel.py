"""kernel: datapath flow installs, dumps and deletes on the stock
openvswitch kernel module, ferrovs-dpctl against Debian's ovs-dpctl, inside
the VM harness of tests/vm/ (tests/vm/run-in-vm), which boots Debian 12's
stock kernel with its module; the host may have no usable module.

One VM boot runs every round (kernel_guest.sh), alternating the two tools
on a fresh datapath each time. Times come from the guest's /proc/uptime
(10 ms steps): coarse at --quick sizes, fine at full size. Under QEMU's
TCG (no KVM) everything runs slower, but both tools equally.

Upcalls received per second: ferrovs's UpcallSocket (the handler side of
dpif::netlink) receiving MISS upcalls of UDP frames sent into a veth of a
datapath without flows (utilities/examples/upcall_rate.rs). Stock has no
standalone tool that receives upcalls (its handlers live inside
ovs-vswitchd), so that row is an absolute figure, without a ratio."""

import os
import subprocess

from .. import procs
from ..procs import Missing
from ..results import Metric
from .base import Scenario

UPCALLS = "MISS upcalls received (ferrovs UpcallSocket; no stock counterpart)"
STOCK_UPCALLS = "no standalone stock tool receives upcalls (absolute figure)"

GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_guest.sh")


def flow_line(i):
    return (f"in_port(0),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),"
            f"ipv4(src=10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255},dst=10.255.0.1,"
            f"proto=17,tos=0,ttl=64,frag=no),udp(src={1024 + i % 50000},dst=9) 0\n")


class Kernel(Scenario):
    name = "kernel"
    about = "flow installs/dumps per second on the kernel module, in the VM harness"

    def __init__(self, ctx, stock_dpctl="ovs-dpctl", ferrovs_dpctl=None, rounds=1):
        super().__init__(ctx)
        self.flows = 1_000 if ctx.quick else 20_000
        self.rounds = rounds
        self.stock_dpctl = stock_dpctl
        self.ferrovs_dpctl = ferrovs_dpctl  # a host path, or None if not built
        self.upcall_missing = None
        self.metrics = [
            Metric(f"add-flows {self.flows:,} datapath flows", "flows/s", "higher"),
            Metric(f"dump-flows {self.flows:,} datapath flows", "flows/s", "higher"),
            Metric(f"del-flows {self.flows:,} datapath flows", "s", "lower"),
            Metric(UPCALLS, "upcalls/s", "higher"),
        ]
        # Per metric and side: why a cell has no figure.
        self.metric_missing = {UPCALLS: {"stock": STOCK_UPCALLS}}

    def upcall_rate_binary(self):
        """Builds utilities/examples/upcall_rate beside ferrovs-dpctl (same
        profile); returns (path, None) or (None, reason)."""
        if not self.ferrovs_dpctl or not os.path.isabs(self.ferrovs_dpctl):
            return None, "no ferrovs build"
        target = os.path.dirname(self.ferrovs_dpctl)
        argv = ["cargo", "build", "-j2", "-p", "ferrovs-utilities", "--example", "upcall_rate"]
        if os.path.basename(target) == "release":
            argv.append("--release")
        done = subprocess.run(argv, cwd=self.ctx.repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        path = os.path.join(target, "examples", "upcall_rate")
        if done.returncode != 0 or not os.access(path, os.X_OK):
            return None, f"cargo build of upcall_rate failed: {procs.tail(done.stderr)}"
        return path, None

    def run_in_vm(self):
        return os.path.join(self.ctx.repo, "tests", "vm", "run-in-vm")

    def unavailable(self):
        if not os.access(self.run_in_vm(), os.X_OK):
            return "the VM harness (tests/vm/run-in-vm) is not in this checkout"
        return None

    def measure_all(self):
        """Runs every round in one VM. Returns (samples, missing): per side
        ('stock', 'ferrovs'), metric name -> values, and side -> reason."""
        flows = os.path.join(self.ctx.workdir, "kernel-flows.txt")
        with open(flows, "w") as f:
            f.writelines(flow_line(i) for i in range(self.flows))
        argv = [self.run_in_vm(), "--timeout", str(300 if self.ctx.quick else 1800),
                "--mem", "2048", "--add", flows,
                "--env", f"BENCH_ROUNDS={self.rounds}",
                "--env", f"STOCK_DPCTL={self.stock_dpctl}"]
        if self.ferrovs_dpctl and os.path.isabs(self.ferrovs_dpctl):
            argv += ["--add", self.ferrovs_dpctl,
                     "--env", f"FERROVS_DPCTL=/payload/bin/{os.path.basename(self.ferrovs_dpctl)}"]
        else:
            argv += ["--env", f"FERROVS_DPCTL={self.ferrovs_dpctl or 'ferrovs-dpctl'}"]
        upcall_rate, self.upcall_missing = self.upcall_rate_binary()
        if self.upcall_missing:
            self.metric_missing[UPCALLS]["ferrovs"] = self.upcall_missing
        if upcall_rate:
            argv += ["--add", upcall_rate, "--env", "UPCALL_RATE=/payload/bin/upcall_rate",
                     "--env", f"UPCALL_SECONDS={1 if self.ctx.quick else 5}"]
        argv += ["--", GUEST]
        done = procs.run(argv, (300 if self.ctx.quick else 1800) + 60, cwd=self.ctx.repo,
                         check=False)
        if "DONE" not in done.stdout.split():
            raise Missing(f"the VM run gave no result (status {done.returncode}): "
                          f"{procs.tail(done.stderr) or procs.tail(done.stdout)}")
        return self.parse(done.stdout)

    def parse(self, text):
        samples = {side: {m.name: [] for m in self.metrics} for side in ("stock", "ferrovs")}
        missing = {}
        names = [m.name for m in self.metrics]
        for line in text.splitlines():
            words = line.split()
            if len(words) == 5 and words[0] == "UPCALLS":
                try:
                    received, seconds = int(words[1]), float(words[2])
                except ValueError:
                    continue
                if received > 0 and seconds > 0:
                    samples["ferrovs"][UPCALLS].append(received / seconds)
            elif len(words) >= 3 and words[:2] == ["MISSING", "upcalls"]:
                self.metric_missing[UPCALLS].setdefault("ferrovs", " ".join(words[2:]))
            elif len(words) >= 3 and words[0] == "MISSING" and words[1] in samples:
                missing.setdefault(words[1], " ".join(words[2:]))
            elif len(words) == 7 and words[0] == "RESULT" and words[1] in samples:
                side = words[1]
                try:
                    dumped = int(words[2])
                    t0, t1, t2, t3 = (float(w) for w in words[3:])
                except ValueError:
                    continue
                if dumped != self.flows:
                    missing.setdefault(side, f"dump-flows showed {dumped} flows, "
                                             f"expected {self.flows}")
                    continue
                # /proc/uptime counts in 10 ms steps: never divide by zero.
                samples[side][names[0]].append(self.flows / max(t1 - t0, 0.01))
                samples[side][names[1]].append(self.flows / max(t2 - t1, 0.01))
                samples[side][names[2]].append(t3 - t2)
        return samples, missing
