"""The benchmark scenarios. Each one measures the same workload against
each daemon in a fresh sandbox; see base.Scenario."""

from .flowmod import FlowMod
from .ports import Ports
from .forward import Forward
from .setup import Setup
from .trace import Trace
from .restart import Restart
from .kernel import Kernel

ALL = [FlowMod, Ports, Forward, Setup, Trace, Restart, Kernel]
BY_NAME = {cls.name: cls for cls in ALL}
