"""Running commands and owning child processes.

Every process the harness starts goes through here, so that each one is
bounded in time and stopped again, even when a scenario fails or the user
presses Ctrl-C.
"""

import os
import signal
import subprocess
import time


class Missing(Exception):
    """A daemon cannot do what a scenario needs (feature missing, crash,
    timeout). The message is the reason printed in the results row."""


class CommandFailed(Missing):
    """A command exited non-zero or timed out."""


def tail(text, lines=2, width=160):
    """The last non-empty lines of a command's output, on one line."""
    kept = [line.strip() for line in (text or "").splitlines() if line.strip()]
    # Open vSwitch log lines: "time|seq|module|LEVEL|text"; keep the text.
    kept = [line.split("|", 4)[4] if line.count("|") >= 4 else line for line in kept]
    return " | ".join(kept[-lines:])[:width]


def run(argv, timeout, env=None, input=None, check=True, cwd=None):
    """Runs argv to completion within timeout seconds and returns the
    CompletedProcess (text mode). On failure raises CommandFailed naming the
    command and the end of its error output."""
    # Name the command by the tool and its first non-option argument.
    words = [os.path.basename(argv[0])] + [a for a in argv[1:] if not a.startswith("-")][:1]
    name = " ".join(words)
    try:
        done = subprocess.run(argv, env=env, input=input, cwd=cwd, text=True,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{name} timed out after {timeout:g} s")
    except OSError as err:
        raise CommandFailed(f"{name}: {err}") from None
    if check and done.returncode != 0:
        why = tail(done.stderr) or tail(done.stdout) or "no output"
        raise CommandFailed(f"{name} failed (status {done.returncode}): {why}")
    return done


def timed(argv, timeout, **kwargs):
    """Runs argv like run() and returns (seconds taken, CompletedProcess)."""
    start = time.monotonic()
    done = run(argv, timeout, **kwargs)
    return time.monotonic() - start, done


class Child:
    """A long-running child process that is always stopped again.

    It runs in its own session, so that a Ctrl-C at the terminal reaches
    only the harness, which then stops its children in order.
    """

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = argv
        self.name = os.path.basename(argv[0])
        self.log_path = log_path
        self._log = open(log_path, "a")  # a restarted daemon keeps its history
        try:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        except OSError as err:
            self._log.close()
            raise Missing(f"cannot start {self.name}: {err}")

    @property
    def pid(self):
        return self.proc.pid

    def exited(self):
        """None while running, else a sentence saying how it ended."""
        status = self.proc.poll()
        if status is None:
            return None
        how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
        return f"{self.name} {how}: {self.output_tail() or 'no output'}"

    def output_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return tail(f.read())
        except OSError:
            return ""

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after grace seconds; then SIGKILL to what is
        left of the child's own process group (anything it forked).
        Idempotent."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=grace)
            except ProcessLookupError:
                pass
        try:
            # The child led its own session, so its group id is its pid.
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


def wait_for(predicate, timeout, interval=0.02):
    """Polls predicate until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def rss_kib(pid):
    """Resident set size of pid in KiB, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    raise Missing(f"cannot read the memory of process {pid}")
