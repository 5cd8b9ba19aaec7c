//! A scratch Open vSwitch installation for one test: a fresh database
//! served by the stock ovsdb-server, a switch daemon (stock ovs-vswitchd or
//! ferrovs-vswitchd), and the stock tools pointed at them through
//! OVS_RUNDIR and friends. Every process it starts is killed when the
//! sandbox is dropped, including when the test fails.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use crate::netns::NetNs;

pub const STOCK_VSWITCHD: &str = "/usr/sbin/ovs-vswitchd";
pub const OVSDB_SERVER: &str = "/usr/sbin/ovsdb-server";
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Whether the stock Open vSwitch programs the sandbox needs are installed.
/// When they are missing, returns false after printing why (the caller
/// skips), except under CI=true, where a missing prerequisite is a failure.
pub fn stock_ovs_available(test: &str) -> bool {
    let missing: Vec<&str> = [STOCK_VSWITCHD, OVSDB_SERVER, VSWITCH_SCHEMA]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .chain(
            ["ovs-vsctl", "ovs-appctl", "ovsdb-tool"]
                .into_iter()
                .filter(|t| !in_path(t)),
        )
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: skipped: stock Open vSwitch missing ({}); run tests/install-deps",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (not allowed under CI=true)");
    }
    eprintln!("{msg}");
    false
}

/// Runs `script` on the switch daemon `ours` (tagged "ferrovs") and on
/// stock ovs-vswitchd (tagged "stock"): both results, or `None` when
/// [`stock_ovs_available`] says the stock tools are missing. The two runs
/// go at the same time, on two threads (each in its own sandbox: the
/// scripts use the dummy datapath or a namespace of their own), which
/// halves the wait for the daemons; a panic in either is the caller's.
pub fn ours_then_stock<T: Send>(
    test: &str,
    ours: &str,
    script: impl Fn(&Path, &str) -> T + Sync,
) -> Option<(T, T)> {
    if !stock_ovs_available(test) {
        return None;
    }
    let script = &script;
    let (ours, stock) = std::thread::scope(|s| {
        let stock = s.spawn(move || script(Path::new(STOCK_VSWITCHD), "stock"));
        let ours = script(Path::new(ours), "ferrovs");
        (ours, stock.join())
    });
    match stock {
        Ok(stock) => Some((ours, stock)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Asserts that ferrovs's steps are stock's: the same number, and each
/// step's outcome (step, outcome) equal to stock's, named by the step
/// where they differ.
pub fn assert_same_steps(ours: &[(String, String)], stock: &[(String, String)]) {
    assert_eq!(ours.len(), stock.len());
    for ((what, o), (_, s)) in ours.iter().zip(stock) {
        assert_eq!(o, s, "after {what}");
    }
}

fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// A started daemon.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn stop(mut self, signal: i32) {
        let pid = self.child.id() as i32;
        // SAFETY: signalling our own child process by its pid.
        unsafe {
            libc::kill(pid, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One scratch installation.
pub struct Sandbox {
    pub dir: PathBuf,
    ovsdb: Option<Daemon>,
    vswitchd: Option<Daemon>,
    /// The network namespace the switch daemon runs in (its own,
    /// see [`NetNs`]), or none for the test's.
    netns: Option<String>,
    /// A command the switch daemon is started through (`prlimit ...
    /// --`), or none.
    wrapper: Vec<String>,
}

impl Sandbox {
    /// Creates a fresh directory and database for test `name` and starts
    /// ovsdb-server on `<dir>/db.sock`.
    pub fn new(name: &str) -> io::Result<Sandbox> {
        // Tests of one binary run at the same time, some with the same
        // name (the same script on each daemon): a counter keeps them apart.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrovs-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let mut sb = Sandbox {
            dir,
            ovsdb: None,
            vswitchd: None,
            netns: None,
            wrapper: Vec::new(),
        };
        let out = sb
            .command("ovsdb-tool")
            .args(["create", "conf.db", VSWITCH_SCHEMA])
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "ovsdb-tool create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        sb.start_ovsdb()?;
        let out = sb.vsctl(&["--no-wait", "init"]);
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "ovs-vsctl init failed: {}",
                text(&out.stderr)
            )));
        }
        Ok(sb)
    }

    /// A command with the sandbox's environment, run in its directory.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.dir)
            .env("OVS_RUNDIR", &self.dir)
            .env("OVS_LOGDIR", &self.dir)
            .env("OVS_DBDIR", &self.dir)
            .env("OVS_SYSCONFDIR", &self.dir)
            .stdin(Stdio::null());
        c
    }

    fn spawn(&self, program: &str, args: &[&str], log: &str) -> io::Result<Daemon> {
        self.spawn_in(None, program, args, log)
    }

    /// Starts `program` as a daemon, inside network namespace `netns` if
    /// given (through `ip netns exec`, which execs it: same pid).
    fn spawn_in(
        &self,
        netns: Option<&str>,
        program: &str,
        args: &[&str],
        log: &str,
    ) -> io::Result<Daemon> {
        let out = fs::File::create(self.dir.join(log))?;
        let err = out.try_clone()?;
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = self.command("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => self.command(program),
        };
        let child = cmd.args(args).stdout(out).stderr(err).spawn()?;
        Ok(Daemon { child })
    }

    /// Starts ovsdb-server (again) on the sandbox database.
    pub fn start_ovsdb(&mut self) -> io::Result<()> {
        let remote = format!("--remote=punix:{}", self.dir.join("db.sock").display());
        let d = self.spawn(
            OVSDB_SERVER,
            &[
                "conf.db",
                &remote,
                "--pidfile",
                "--log-file",
                "-vconsole:off",
            ],
            "ovsdb-server.out",
        )?;
        self.ovsdb = Some(d);
        self.wait_for(|| self.dir.join("db.sock").exists(), "ovsdb-server socket")
    }

    /// Kills ovsdb-server the hard way (SIGKILL), as a crash would.
    pub fn kill_ovsdb(&mut self) {
        if let Some(d) = self.ovsdb.take() {
            d.stop(libc::SIGKILL);
        }
        let _ = fs::remove_file(self.dir.join("db.sock"));
    }

    /// Starts a switch daemon (`program` is stock ovs-vswitchd or
    /// ferrovs-vswitchd) with the usual test options plus `extra`, and waits
    /// for its control socket.
    pub fn start_vswitchd(&mut self, program: &Path, extra: &[&str]) -> io::Result<()> {
        self.spawn_vswitchd(program, extra)?;
        self.wait_for(
            || self.appctl(&["version"]).status.success(),
            "ovs-vswitchd control socket",
        )
    }

    /// A sandbox named `name` with ovsdb-server and `program` (stock
    /// ovs-vswitchd or ferrovs-vswitchd) started with `extra`, as every
    /// daemon test begins. Test set-up: panics when either cannot start.
    pub fn with_vswitchd(name: &str, program: &Path, extra: &[&str]) -> Sandbox {
        let mut sb = Sandbox::new(name).expect("sandbox");
        sb.start_vswitchd(program, extra)
            .unwrap_or_else(|e| panic!("{name}: start {}: {e}", program.display()));
        sb
    }

    /// Like [`Sandbox::with_vswitchd`], with the switch daemon in network
    /// namespace `netns` (which must outlive the sandbox): its userspace
    /// datapath's taps there, out of the way of other tests.
    pub fn with_vswitchd_in(netns: &NetNs, name: &str, program: &Path, extra: &[&str]) -> Sandbox {
        let mut sb = Sandbox::new(name).expect("sandbox");
        sb.use_netns(netns);
        sb.start_vswitchd(program, extra)
            .unwrap_or_else(|e| panic!("{name}: start {}: {e}", program.display()));
        sb
    }

    /// Has the switch daemons started from now on run in `netns` (which
    /// must outlive the sandbox).
    pub fn use_netns(&mut self, netns: &NetNs) {
        self.netns = Some(netns.name().to_string());
    }

    /// Has the switch daemons started from now on run through `argv`, a
    /// command that execs the rest of its command line (`prlimit
    /// --stack=N --`).
    pub fn use_wrapper(&mut self, argv: &[&str]) {
        self.wrapper = argv.iter().map(|a| a.to_string()).collect();
    }

    /// The network namespace the switch daemon runs in, if its own.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// Starts a switch daemon like `start_vswitchd` without waiting for it.
    pub fn spawn_vswitchd(&mut self, program: &Path, extra: &[&str]) -> io::Result<()> {
        let program = program.to_string_lossy();
        let mut argv: Vec<&str> = self.wrapper.iter().map(String::as_str).collect();
        argv.extend([&*program, "--pidfile", "--log-file", "-vconsole:off"]);
        argv.extend_from_slice(extra);
        let d = self.spawn_in(
            self.netns.as_deref(),
            argv[0],
            &argv[1..],
            "ovs-vswitchd.out",
        )?;
        self.vswitchd = Some(d);
        Ok(())
    }

    /// Stops the switch daemon with SIGTERM; returns whether it was running.
    pub fn stop_vswitchd(&mut self) -> bool {
        match self.vswitchd.take() {
            Some(d) => {
                d.stop(libc::SIGTERM);
                true
            }
            None => false,
        }
    }

    /// Whether the switch daemon is still alive.
    pub fn vswitchd_running(&mut self) -> bool {
        self.vswitchd
            .as_mut()
            .is_some_and(|d| matches!(d.child.try_wait(), Ok(None)))
    }

    /// Asserts that the switch daemon is still alive (naming `what` and
    /// showing its log otherwise), then has it exit with `exit --cleanup`
    /// and waits up to 10 seconds for that.
    pub fn exit_alive(&mut self, what: &str) {
        assert!(
            self.vswitchd_running(),
            "{what}: daemon died:\n{}",
            self.vswitchd_log()
        );
        let _ = self.appctl(&["exit", "--cleanup"]);
        let _ = self.wait_vswitchd_exit(Duration::from_secs(10));
    }

    /// The switch daemon's process id.
    pub fn vswitchd_pid(&self) -> Option<u32> {
        self.vswitchd.as_ref().map(|d| d.child.id())
    }

    /// Waits for the switch daemon to exit by itself; its exit code.
    pub fn wait_vswitchd_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(d) = self.vswitchd.as_mut() {
                if let Ok(Some(st)) = d.child.try_wait() {
                    self.vswitchd = None;
                    return Some(st.code().unwrap_or(-1));
                }
            }
            sleep(Duration::from_millis(20));
        }
        None
    }

    /// Runs ovs-vsctl (with a 10-second timeout).
    pub fn vsctl(&self, args: &[&str]) -> Output {
        self.run("ovs-vsctl", &[&["--timeout=10"], args].concat())
    }

    /// Runs one ovs-vsctl command line, words split at whitespace (no
    /// word of it may hold a space), and requires success.
    pub fn vsctl_line(&self, line: &str) -> String {
        self.vsctl_ok(&line.split_whitespace().collect::<Vec<_>>(), line)
    }

    /// Runs ovs-vsctl and panics, naming `what` and showing the switch
    /// daemon's log, unless it succeeds; its standard output.
    pub fn vsctl_ok<S: AsRef<str>>(&self, args: &[S], what: &str) -> String {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        self.succeeded(self.vsctl(&args), what)
    }

    /// The standard output of a command run here; panics, naming `what`
    /// and showing the switch daemon's log, unless it succeeded.
    pub fn succeeded(&self, out: Output, what: &str) -> String {
        assert!(
            out.status.success(),
            "{what} failed: {}\nlog:\n{}",
            text(&out.stderr),
            self.vswitchd_log()
        );
        text(&out.stdout)
    }

    /// Runs ovs-appctl against ovs-vswitchd (with a 10-second timeout).
    pub fn appctl(&self, args: &[&str]) -> Output {
        self.run("ovs-appctl", &[&["--timeout=10"], args].concat())
    }

    /// The datapath port number of interface `port`, as `dpif/show`
    /// prints it (`    p0 1/2: (dummy)`: OpenFlow 1, datapath 2).
    pub fn odp_port(&self, port: &str) -> u32 {
        let show = text(&self.appctl(&["dpif/show"]).stdout);
        show.lines()
            .find(|l| l.trim_start().starts_with(&format!("{port} ")))
            .and_then(|l| l.split('/').nth(1))
            .and_then(|n| n.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no datapath port for {port} in:\n{show}"))
    }

    /// Runs any program in the sandbox environment.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    /// `ovs-ofctl -O VERSION add-flows BRIDGE FILE` with `flows` (one per
    /// line) written to `flows.txt` in the sandbox; panics (with the log)
    /// unless it succeeds.
    pub fn add_flows(&self, bridge: &str, version: &str, flows: &str) {
        let file = self.dir.join("flows.txt");
        std::fs::write(&file, flows).expect("flows file");
        let file = file.display().to_string();
        let out = self.run("ovs-ofctl", &["-O", version, "add-flows", bridge, &file]);
        self.succeeded(out, &format!("add-flows on {bridge}"));
    }

    /// Polls `cond` for up to 10 seconds.
    pub fn wait_for(&self, mut cond: impl FnMut() -> bool, what: &str) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if cond() {
                return Ok(());
            }
            sleep(Duration::from_millis(50));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out waiting for {what} in {}", self.dir.display()),
        ))
    }

    /// The switch daemon's log so far.
    pub fn vswitchd_log(&self) -> String {
        fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default()
    }
}

/// Helper processes a test started (`ovs-ofctl monitor` and the like),
/// killed and reaped through their own handles on drop.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A switch still running is asked to `exit --cleanup` first: stock
        // makes its userspace datapath's taps (`ovs-netdev`, one per
        // bridge) persistent, and a plain SIGTERM leaves them behind in
        // the namespace the test ran in.
        if self.vswitchd_running() {
            let _ = self.run("ovs-appctl", &["--timeout=5", "exit", "--cleanup"]);
            let _ = self.wait_vswitchd_exit(Duration::from_secs(5));
        }
        if let Some(d) = self.vswitchd.take() {
            d.stop(libc::SIGTERM);
        }
        if let Some(d) = self.ovsdb.take() {
            d.stop(libc::SIGTERM);
        }
        if std::thread::panicking() {
            eprintln!("sandbox kept for inspection: {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Text of a command's output.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Normalizes `ovs-vsctl list` output for comparison between daemons:
/// records sorted by name, UUIDs replaced by their order of appearance,
/// MAC addresses and datapath IDs masked, the given columns dropped.
pub fn normalize_list(out: &str, drop_columns: &[&str]) -> String {
    let mut records: Vec<Vec<(String, String)>> = Vec::new();
    let mut cur = Vec::new();
    for line in out.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                records.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim().to_string();
        if drop_columns.contains(&k.as_str()) {
            continue;
        }
        cur.push((k, v.trim().to_string()));
    }
    if !cur.is_empty() {
        records.push(cur);
    }
    let name_of = |r: &Vec<(String, String)>| {
        r.iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    records.sort_by_key(name_of);
    let mut out = String::new();
    for r in records {
        for (k, v) in r {
            let v = if k == "_uuid" || looks_like_uuid_list(&v) {
                "<uuids>".to_string()
            } else {
                mask_macs(&v)
            };
            let v = if k == "datapath_id" && v != "[]" {
                "<dpid>".to_string()
            } else {
                v
            };
            out.push_str(&format!("{k:<20}: {v}\n"));
        }
        out.push('\n');
    }
    out
}

fn looks_like_uuid_list(v: &str) -> bool {
    let v = v.trim_start_matches('[').trim_end_matches(']');
    !v.is_empty() && v.split(", ").all(is_uuid)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Replaces every `xx:xx:xx:xx:xx:xx` with `<mac>`.
pub fn mask_macs(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let is_mac = b.len() - i >= 17
            && (0..17).all(|j| {
                let c = b[i + j];
                if j % 3 == 2 {
                    c == b':'
                } else {
                    c.is_ascii_hexdigit()
                }
            });
        if is_mac {
            out.push_str("<mac>");
            i += 17;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lists() {
        let a = "_uuid               : 2e1219be-9980-46aa-9899-f9b5cfce4b04\nname                : b\nmac_in_use          : \"aa:55:aa:55:00:01\"\n\n_uuid               : 3e1219be-9980-46aa-9899-f9b5cfce4b04\nname                : a\nports               : [2e1219be-9980-46aa-9899-f9b5cfce4b04, 3e1219be-9980-46aa-9899-f9b5cfce4b04]\n";
        let n = normalize_list(a, &[]);
        assert_eq!(
            n,
            "_uuid               : <uuids>\nname                : a\nports               : <uuids>\n\n_uuid               : <uuids>\nname                : b\nmac_in_use          : \"<mac>\"\n\n"
        );
    }
}
