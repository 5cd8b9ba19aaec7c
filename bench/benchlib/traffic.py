"""Driving pktgen.py in the two namespaces: a receiver in B, a sender in A,
optionally with something happening in between (a daemon restart)."""

import json
import os
import select
import signal
import subprocess
import sys
import time

from .procs import Missing

PKTGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pktgen.py")


class Exchange:
    """One run of frames from A to B. After run(): tx maps sequence number to
    send time (None if the frame never left A), rx to first arrival time."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.tx = {}
        self.rx = {}

    def run(self, first, count, interval, unique, during=None, during_at=0.0,
            settle=0.5, timeout=60.0):
        """Sends count frames; calls during() during_at seconds after the
        sender starts (its failure is raised after the receiver stops)."""
        receiver = self._spawn(self.hosts.ns_b, ["recv", self.hosts.b0, str(timeout + 10)])
        sender = None
        try:
            ready, _, _ = select.select([receiver.stdout], [], [], 10)
            if not ready or receiver.stdout.readline().strip() != "ready":
                raise RuntimeError("pktgen receiver did not start")
            sender = self._spawn(self.hosts.ns_a, ["send", self.hosts.a0, str(first),
                                                   str(count), str(interval),
                                                   "unique" if unique else "same"])
            failure = None
            if during is not None:
                time.sleep(during_at)
                try:
                    during()
                except Missing as err:
                    failure = err
            try:
                out, _ = sender.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"pktgen sender took more than {timeout:g} s") from None
            sent = json.loads(out)
            time.sleep(settle)
            receiver.send_signal(signal.SIGTERM)
            out, _ = receiver.communicate(timeout=10)
            got = json.loads(out)
        finally:
            for proc in (sender, receiver):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        self.tx = {first + n: t for n, t in enumerate(sent["tx"])}
        self.rx = {}
        for seq, t in zip(got["seq"], got["rx"]):
            self.rx.setdefault(seq, t)
        if failure is not None:
            raise failure
        return self

    def _spawn(self, ns, args):
        return subprocess.Popen(self.hosts.exec_argv(ns, [sys.executable, PKTGEN, *args]),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)

    # -- results ----------------------------------------------------------
    def delivered(self):
        return [seq for seq in self.rx if seq in self.tx]

    def lost(self):
        return sum(1 for seq, t in self.tx.items() if t is not None and seq not in self.rx)

    def delays(self):
        """One-way delays in seconds of the frames that arrived."""
        return [self.rx[seq] - self.tx[seq] for seq in self.delivered()
                if self.tx[seq] is not None]

    def longest_gap(self):
        """The longest time between two consecutive arrivals, in seconds."""
        times = sorted(self.rx.values())
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def check_path(hosts, what):
    """Raises Missing unless frames from A reach B through the switch."""
    probe = Exchange(hosts).run(first=0xF0000000, count=20, interval=0.01, unique=False,
                                settle=0.5, timeout=20)
    if not probe.rx:
        raise Missing(f"no frame from namespace A reached B through {what}")


def windowed(hosts, first, count, in_flight, mode, frame_timeout=0.2, max_seconds=30.0,
             generator=None):
    """Frames from A to B with at most in_flight outstanding, timed by one
    process holding a socket in each namespace; mode is pktgen's (unique,
    same, oneflow). generator is the path of pktgen-window (built from
    bench/src/pktgen_window.rs), or None for `pktgen.py window`: the same
    frames and loop, without Python's cost per frame. Returns the report:
    completed, lost, seconds, delays."""
    args = [hosts.ns_a, hosts.a0, hosts.ns_b, hosts.b0, str(first), str(count),
            str(in_flight), mode, str(frame_timeout), str(max_seconds)]
    argv = [generator, *args] if generator else [sys.executable, PKTGEN, "window", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=max_seconds + 20)
    except subprocess.TimeoutExpired:
        raise RuntimeError("pktgen window run did not finish") from None
    if done.returncode != 0:
        raise RuntimeError(f"pktgen window failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)
