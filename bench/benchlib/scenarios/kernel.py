"""kernel: datapath flow installs and dumps per second through the stock
openvswitch kernel module, ferrovs-dpctl against ovs-dpctl, inside the VM
harness of tests/vm/ (this machine has no usable module).

The VM side is a hook: an executable tests/vm/bench-kernel that runs the
measurement in the VM and prints JSON
  {"metrics": [{"metric": NAME, "unit": UNIT, "better": "lower"|"higher",
                "stock": [values...], "ferrovs": [values...],
                "ferrovs_missing": REASON (instead of "ferrovs")}]}
Until that hook exists the scenario reports itself missing, saying why."""

import json
import os

from .. import procs
from .base import Scenario


class Kernel(Scenario):
    name = "kernel"
    about = "flow installs/dumps per second on the kernel module, in the VM harness"

    def hook(self):
        return os.path.join(self.ctx.repo, "tests", "vm", "bench-kernel")

    def unavailable(self):
        vm = os.path.join(self.ctx.repo, "tests", "vm")
        if not os.path.isdir(vm):
            return "the VM harness (tests/vm/) is not in this checkout"
        if not os.access(self.hook(), os.X_OK):
            return "tests/vm/ has no bench-kernel hook yet (see bench/README.md)"
        return None

    def run_hook(self):
        """Runs the hook; returns its metrics list (raises procs.Missing)."""
        argv = [self.hook()] + (["--quick"] if self.ctx.quick else [])
        done = procs.run(argv, 900, cwd=self.ctx.repo)
        try:
            return json.loads(done.stdout)["metrics"]
        except (ValueError, KeyError, TypeError):
            raise procs.Missing("tests/vm/bench-kernel printed no metrics JSON") from None
