"""A fresh Open vSwitch sandbox: the stock ovsdb-server with a new database,
and one daemon under test (stock ovs-vswitchd or ferrovs-vswitchd) started
with the same command line, both in a scratch folder.

The stock tools (ovs-vsctl, ovs-ofctl, ovs-appctl) find everything through
OVS_RUNDIR, so they drive either daemon unchanged.
"""

import os
import shutil
import time

from . import procs
from .procs import Missing

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
TOOL_TIMEOUT = 30


class Sandbox:
    def __init__(self, folder, daemon_binary, daemon_args):
        self.dir = folder
        self.daemon_binary = daemon_binary
        self.daemon_args = list(daemon_args)
        self.ovsdb = None
        self.daemon = None
        self.env = dict(os.environ, OVS_RUNDIR=folder, OVS_LOGDIR=folder,
                        OVS_DBDIR=folder, OVS_SYSCONFDIR=folder)

    # -- life cycle -------------------------------------------------------
    def __enter__(self):
        try:
            self._start_ovsdb()
        except Missing as err:
            # The stock database failing is the harness's problem, never
            # a missing feature of the daemon under test.
            self.close()
            raise RuntimeError(f"sandbox: {err}") from None
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        # A daemon merely stopped leaves what it made in the kernel: stock
        # keeps a userspace datapath's tap devices (`ovs-netdev` and one
        # per bridge, persistent), which would stay in the namespace
        # bench/run runs in (and turn up in later rounds and runs). It is
        # asked to exit with --cleanup first, as when Open vSwitch is
        # removed; the stop below ends it if that fails.
        if self.daemon is not None and not self.daemon.exited():
            try:
                procs.run(["ovs-appctl", "--timeout=5", "exit", "--cleanup"], 10,
                          env=self.env, check=False)
            except Missing:
                pass
            procs.wait_for(self.daemon.exited, 5)
        for child in (self.daemon, self.ovsdb):
            if child is not None:
                child.stop()

    def _start_ovsdb(self):
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        procs.run(["ovsdb-tool", "create", self.path("conf.db"), SCHEMA], 30)
        self.ovsdb = procs.Child(
            ["ovsdb-server", self.path("conf.db"), "--remote=punix:" + self.path("db.sock"),
             "--unixctl=" + self.path("ovsdb-server.ctl"),
             "--pidfile=" + self.path("ovsdb-server.pid"),
             "--log-file=" + self.path("ovsdb-server.log"), "--no-chdir"],
            self.path("ovsdb-server.out"), env=self.env, cwd=self.dir)
        ready = procs.wait_for(lambda: os.path.exists(self.path("db.sock"))
                               or self.ovsdb.exited(), 10)
        if not ready or self.ovsdb.exited():
            raise RuntimeError(f"stock ovsdb-server did not start: "
                               f"{self.ovsdb.exited() or 'no db.sock after 10 s'}")
        # db.sock appears when ovsdb-server binds it, a moment before it
        # listens: retry the first transaction briefly.
        deadline = time.monotonic() + 10
        while True:
            done = procs.run(["ovs-vsctl", "--no-wait", "--timeout=5", "init"], 10,
                             env=self.env, check=False)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline or self.ovsdb.exited():
                raise RuntimeError(f"stock ovsdb-server does not answer: "
                                   f"{procs.tail(done.stderr)}")
            time.sleep(0.1)

    def start_daemon(self, extra_args=()):
        """Starts the daemon under test in the foreground (the harness owns
        it). Returns once its pidfile exists; raises Missing if it exits."""
        argv = [self.daemon_binary, "unix:" + self.path("db.sock"), "--pidfile",
                "--log-file", *self.daemon_args, *extra_args]
        pidfile = self.path("ovs-vswitchd.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.daemon = procs.Child(argv, self.path("daemon.out"), env=self.env, cwd=self.dir)
        procs.wait_for(lambda: os.path.exists(pidfile) or self.daemon.exited(), 10)
        if self.daemon.exited():
            raise Missing(f"daemon did not start: {self.daemon.exited()}")
        if not os.path.exists(pidfile):
            raise Missing("daemon wrote no pidfile within 10 s")
        return self.daemon

    def stop_daemon(self, grace=5.0):
        if self.daemon is not None:
            self.daemon.stop(grace)

    # -- helpers ----------------------------------------------------------
    def path(self, name):
        return os.path.join(self.dir, name)

    def explain(self, err):
        """err, with the daemon's own end added when it has died."""
        gone = self.daemon.exited() if self.daemon else None
        return Missing(f"{err}; {gone}") if gone and gone not in str(err) else err

    def tool(self, argv, timeout=TOOL_TIMEOUT, **kwargs):
        try:
            return procs.run(argv, timeout, env=self.env, **kwargs)
        except Missing as err:
            raise self.explain(err) from None

    def timed_tool(self, argv, timeout=TOOL_TIMEOUT, **kwargs):
        try:
            return procs.timed(argv, timeout, env=self.env, **kwargs)
        except Missing as err:
            raise self.explain(err) from None

    def vsctl(self, *args, timeout=TOOL_TIMEOUT):
        """ovs-vsctl, waiting (bounded) for the daemon to apply the change."""
        done = self.tool(["ovs-vsctl", f"--timeout={timeout}", *args], timeout + 5,
                         check=False)
        if done.returncode in (-14, 142):  # its --timeout alarm went off
            command = next((a for a in args if not a.startswith("-")), "")
            raise self.explain(Missing(
                f"ovs-vsctl {command}: no result within {timeout} s "
                "(the daemon did not apply it: cur_cfg did not catch up)"))
        if done.returncode != 0:
            command = next((a for a in args if not a.startswith("-")), "")
            raise self.explain(Missing(f"ovs-vsctl {command} failed (status "
                                       f"{done.returncode}): {procs.tail(done.stderr)}"))
        return done

    def timed_vsctl(self, *args, timeout=TOOL_TIMEOUT):
        """vsctl() and the seconds it took: with its waiting for cur_cfg,
        the time until the daemon has applied the change."""
        start = time.monotonic()
        done = self.vsctl(*args, timeout=timeout)
        return time.monotonic() - start, done

    def ofctl(self, *args, timeout=TOOL_TIMEOUT, **kwargs):
        return self.tool(["ovs-ofctl", *args], timeout, **kwargs)

    def appctl(self, *args, timeout=TOOL_TIMEOUT):
        return self.tool(["ovs-appctl", f"--timeout={timeout}", *args], timeout + 5)

    def unixctl_path(self):
        """The daemon's control socket, <rundir>/ovs-vswitchd.<pid>.ctl."""
        try:
            with open(self.path("ovs-vswitchd.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            raise Missing("daemon pidfile unreadable") from None
        return self.path(f"ovs-vswitchd.{pid}.ctl")

    def add_bridge(self, name, datapath_type, timeout=15):
        """add-br that waits for cur_cfg: the first sign that the daemon
        really follows the database."""
        self.vsctl("add-br", name, "--", "set", "Bridge", name,
                   f"datapath_type={datapath_type}", timeout=timeout)
