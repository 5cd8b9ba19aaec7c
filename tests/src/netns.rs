//! A network namespace of its own for one test's switch daemons, so that
//! tests with userspace datapaths can run at the same time: each such
//! datapath creates a tap named `ovs-netdev` (and one per bridge), a name
//! that must be unique per namespace. The daemons run in it through
//! `ip netns exec`; the stock tools need not, as they reach the daemons
//! over unix sockets. Deleting the namespace on drop takes every device in
//! it along (taps, veth ends), also when the test fails.

use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Namespaces made by this process so far: the `<n>` of `ftest-<pid>-<n>`.
static MADE: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates `ftest-<pid>-<n>` with its loopback up.
    pub fn new() -> io::Result<NetNs> {
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let ns = NetNs {
            name: format!("ftest-{}-{n}", std::process::id()),
        };
        ip(&["netns", "add", &ns.name])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, for `ip -n NAME` and `ip netns exec NAME`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`
    /// execs it: the child's pid is the program's).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // The namespace goes once its last process has: anything still
        // running in it keeps it alive, unnamed, until then.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip ARGS`; an error with its message unless it succeeds.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{stock_ovs_available, Sandbox, STOCK_VSWITCHD};
    use std::path::Path;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    fn netns_exists(name: &str) -> bool {
        Path::new("/run/netns").join(name).exists()
    }

    /// A test that fails with stock's userspace datapath running in its
    /// own namespace leaves nothing behind: the daemon is stopped and the
    /// namespace, with the taps stock makes persistent, is gone.
    #[test]
    fn failing_test_leaves_no_namespace_or_daemon() {
        let test = "failing_test_leaves_no_namespace_or_daemon";
        if !is_root() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "{test}: cannot run under CI=true: not root"
            );
            eprintln!("{test}: skipped: not root");
            return;
        }
        if !stock_ovs_available(test) {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let failed = std::thread::spawn(move || {
            let ns = NetNs::new().expect("netns");
            let sb =
                Sandbox::with_vswitchd_in(&ns, "netns-cleanup", Path::new(STOCK_VSWITCHD), &[]);
            sb.vsctl_line("add-br br0 -- set bridge br0 datapath_type=netdev");
            let taps = ns.command("ip").args(["-o", "link", "show"]).output();
            let taps = String::from_utf8_lossy(&taps.expect("ip link").stdout).into_owned();
            let pid = sb.vswitchd_pid().expect("daemon pid");
            let _ = tx.send((ns.name().to_string(), pid, taps, sb.dir.clone()));
            panic!("the test fails here on purpose");
        })
        .join();
        assert!(failed.is_err(), "the inner test did not fail");
        let (name, pid, taps, dir) = rx.recv().expect("the inner test ran");
        // Kept for inspection, as after any failure: not needed here.
        let _ = std::fs::remove_dir_all(dir);
        assert!(
            taps.contains("ovs-netdev") && taps.contains("br0"),
            "no userspace datapath taps in {name}:\n{taps}"
        );
        assert!(!netns_exists(&name), "{name} left behind");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the switch daemon ({pid}) left running"
        );
    }
}
