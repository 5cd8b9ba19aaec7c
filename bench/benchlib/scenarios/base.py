"""What a scenario is, for the harness in bench/run."""


class Context:
    """Run-wide settings a scenario may read."""

    def __init__(self, quick, workdir, repo, tx_offload, tools=None):
        self.quick = quick
        self.workdir = workdir      # scratch folder of this scenario
        self.repo = repo            # the ferrovs checkout
        self.tx_offload = tx_offload
        # Helper programs built from bench/ (name -> path), and for each
        # one missing, "NAME missing" -> the reason.
        self.tools = tools or {}


class Scenario:
    """Subclasses set name, about, metrics (list of results.Metric) and
    daemon_args (the command-line options both daemons get besides
    `unix:DB --pidfile --log-file`), and implement measure().

    The harness calls prepare() once, then for each round measure() once per
    daemon, each time in a fresh sandbox, then reference() (optional, for a
    non-OVS ceiling such as the Linux bridge), and close() at the end, even
    after a failure."""

    name = ""
    about = ""
    metrics = []
    daemon_args = []
    reference_name = None
    # Names of the metrics the reference measures (None: all of them).
    reference_metrics = None

    def __init__(self, ctx):
        self.ctx = ctx

    def prepare(self):
        pass

    def measure(self, sandbox, values):
        """Starts the daemon in sandbox, drives the workload and stores each
        metric's value in values[metric name] as soon as it is known. Raises
        procs.Missing when the daemon cannot do what is needed; metrics
        stored before that still count."""
        raise NotImplementedError

    def reference(self, values):
        pass

    def close(self):
        pass

    def unavailable(self):
        """A reason why the scenario cannot run at all here, or None."""
        return None
