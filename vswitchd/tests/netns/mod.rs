//! Helpers shared by the test crates that run the daemon over veths in
//! network namespaces (`netdev.rs`, `upcall.rs`, ...): commands, the root
//! check, a topology of namespaces (optionally with a namespace of its
//! own for the switch, so that tests with userspace datapaths run at the
//! same time), ferrovs and stock run side by side on such topologies,
//! and `dump-flows` normalization.
// Each test crate uses a different subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use ferrovs_tests::netns::NetNs;
use ferrovs_tests::sandbox::{text, Sandbox, STOCK_VSWITCHD};

pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

pub fn must(args: &[&str]) {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// A device's Ethernet address, from `ip link` in namespace `ns`
/// ("none" when it has none or is not there).
pub fn dev_addr(ns: &str, dev: &str) -> String {
    let out = text(&run(&["ip", "-n", ns, "-o", "link", "show", "dev", dev]).stdout);
    out.split_once("link/ether ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .unwrap_or("none")
        .to_string()
}

/// Gives device `dev` in namespace `ns` the Ethernet address `mac`, as
/// someone other than the daemon would.
pub fn set_dev_addr(ns: &str, dev: &str, mac: &str) {
    must(&["ip", "-n", ns, "link", "set", dev, "address", mac]);
}

/// The bridge module's ERR lines in the daemon's log, each once, sorted
/// (stock repeats some at every reconfiguration), one per line.
pub fn bridge_errors(sb: &Sandbox) -> String {
    let errors: std::collections::BTreeSet<String> = sb
        .vswitchd_log()
        .lines()
        .filter_map(|l| l.split_once("|bridge|ERR|").map(|(_, e)| e.to_string()))
        .collect();
    errors.into_iter().collect::<Vec<_>>().join("\n")
}

/// Whether root, iproute2 and ping are here; under CI=true their absence
/// fails the test.
pub fn netns_available(test: &str) -> bool {
    let root = run(&["id", "-u"]).stdout.starts_with(b"0");
    let tools = ["ip", "ping"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if root && tools {
        return true;
    }
    let why = if root {
        "ip or ping missing"
    } else {
        "not root"
    };
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{test}: cannot run under CI=true: {why}"
    );
    eprintln!("{test}: skipped: {why}");
    false
}

/// Namespaces (two by default), each with a veth whose host end is to become a switch
/// port; names unique to this process; removed on drop.
pub struct Topo {
    pub ns: Vec<String>,
    pub host: Vec<String>,
    /// The switch's own namespace, where the host ends are, when not the
    /// test's (deleted after the namespaces above, on drop).
    pub switch: Option<NetNs>,
}

impl Topo {
    pub fn new(tag: char) -> Topo {
        Topo::with(tag, 2)
    }

    /// `n` namespaces (at most 26), addressed 10.79.0.1, .2, ...
    pub fn with(tag: char, n: u8) -> Topo {
        Topo::build(tag, n, None)
    }

    /// Two namespaces like [`Topo::new`], with the host ends in a new
    /// namespace of their own for the switch: [`Topo::sandbox`] starts
    /// daemons there, so that tests with userspace datapaths (each
    /// creating a tap `ovs-netdev`) can run at the same time.
    pub fn isolated(tag: char) -> Topo {
        Topo::isolated_with(tag, 2)
    }

    /// `n` namespaces like [`Topo::with`], isolated like
    /// [`Topo::isolated`]. The test namespaces are named after the
    /// switch's (`ftest-<pid>-<n>-a`, ...), while the veth names depend
    /// on `tag` alone (they live in namespaces of their own) and their
    /// MAC addresses on the position alone (`02:79:00:00:00:0N` inside,
    /// `02:79:00:00:01:0N` for the switch's end), so that two such
    /// topologies with the same tag (one per daemon, run at the same
    /// time) give the same ports and flows.
    pub fn isolated_with(tag: char, n: u8) -> Topo {
        let sw = NetNs::new().unwrap_or_else(|e| panic!("switch namespace: {e}"));
        Topo::build(tag, n, Some(sw))
    }

    fn build(tag: char, n: u8, switch: Option<NetNs>) -> Topo {
        let p = format!("fvt{}{tag}", std::process::id() % 100_000);
        let letters = (b'a'..=b'z').take(n as usize).map(char::from);
        let t = Topo {
            ns: letters
                .clone()
                .map(|l| match &switch {
                    Some(sw) => format!("{}-{l}", sw.name()),
                    None => format!("{p}{l}"),
                })
                .collect(),
            host: letters.map(|l| format!("{p}h{l}")).collect(),
            switch,
        };
        for i in 0..t.ns.len() {
            let (ns, host) = (&t.ns[i], &t.host[i]);
            let inner = format!("{host}i");
            must(&["ip", "netns", "add", ns]);
            // Both ends made where they belong: in the isolated case the
            // same names exist in other namespaces meanwhile.
            // Fixed addresses too, so that two such topologies (one per
            // daemon) give the same flows.
            let host_ns = t.switch.as_ref().map(|sw| sw.name());
            let (host_mac, inner_mac) = (
                format!("02:79:00:00:01:{:02x}", i + 1),
                format!("02:79:00:00:00:{:02x}", i + 1),
            );
            let mut add = vec!["ip", "link", "add", host];
            if let Some(sw) = host_ns {
                add.extend(["netns", sw, "address", &host_mac]);
            }
            add.extend(["type", "veth", "peer", "name", &inner, "netns", ns]);
            if host_ns.is_some() {
                add.extend(["address", &inner_mac]);
            }
            must(&add);
            // No IPv6: the links stay quiet unless the test sends.
            let _ = t.switch_side(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{host}.disable_ipv6=1"),
            ]);
            let _ = run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ]);
            let addr = format!("10.79.0.{}/24", i + 1);
            must(&["ip", "-n", ns, "addr", "add", &addr, "dev", &inner]);
            must(&["ip", "-n", ns, "link", "set", &inner, "up"]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            assert!(
                t.switch_side(&["ip", "link", "set", host, "up"])
                    .status
                    .success(),
                "cannot set {host} up"
            );
        }
        // The carrier comes up a moment after both ends are: wait for it,
        // so that no daemon sees it change (stock counts that in
        // link_resets).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        for host in &t.host {
            while !text(
                &t.switch_side(&["ip", "-o", "link", "show", "dev", host])
                    .stdout,
            )
            .contains("LOWER_UP")
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{host}: no carrier after 5 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        t
    }

    /// Runs `args` in the namespace of the host ends.
    pub fn switch_side(&self, args: &[&str]) -> Output {
        match &self.switch {
            Some(sw) => run(&[&["ip", "netns", "exec", sw.name()], args].concat()),
            None => run(args),
        }
    }

    /// A sandbox named `name` with ovsdb-server only, its switch daemon
    /// (started later) in the switch's namespace if the topology has one.
    pub fn bare_sandbox(&self, name: &str) -> Sandbox {
        let mut sb = Sandbox::new(name).expect("sandbox");
        if let Some(sw) = &self.switch {
            sb.use_netns(sw);
        }
        sb
    }

    /// A sandbox named `name` with ovsdb-server and switch daemon
    /// `program` started with `extra`, the daemon in the switch's
    /// namespace if the topology has one.
    pub fn sandbox(&self, name: &str, program: &Path, extra: &[&str]) -> Sandbox {
        match &self.switch {
            Some(sw) => Sandbox::with_vswitchd_in(sw, name, program, extra),
            None => Sandbox::with_vswitchd(name, program, extra),
        }
    }

    /// Whether one ping from namespace `from` to `to_addr` is answered
    /// within a second.
    pub fn ping(&self, from: usize, to_addr: &str) -> bool {
        self.ping_with(from, &["-c", "1", "-W", "1", to_addr])
            .status
            .success()
    }

    /// `ping -c COUNT -i INTERVAL -W 1 TO_ADDR` from namespace `from`:
    /// its output.
    pub fn ping_series(&self, from: usize, to_addr: &str, count: u32, interval: &str) -> Output {
        let count = count.to_string();
        self.ping_with(from, &["-c", &count, "-i", interval, "-W", "1", to_addr])
    }

    fn ping_with(&self, from: usize, args: &[&str]) -> Output {
        run(&[&["ip", "netns", "exec", &self.ns[from], "ping"], args].concat())
    }
}

/// Runs `script` on ferrovs-vswitchd `ours` (tagged "ferrovs") and on
/// stock ovs-vswitchd (tagged "stock") at the same time, each on a
/// topology of `n` namespaces of its own ([`Topo::isolated_with`], made
/// ready by `prepare`): (ours, stock). A panic in either is the caller's.
pub fn ours_and_stock_isolated<T: Send>(
    ours: &Path,
    tag: char,
    n: u8,
    prepare: impl Fn(&Topo) + Sync,
    script: impl Fn(&Path, &Topo, &str) -> T + Sync,
) -> (T, T) {
    let run_on = |program: &Path, who: &str| {
        let topo = Topo::isolated_with(tag, n);
        prepare(&topo);
        script(program, &topo, who)
    };
    let run_on = &run_on;
    let (ours, stock) = std::thread::scope(|s| {
        let stock = s.spawn(move || run_on(Path::new(STOCK_VSWITCHD), "stock"));
        let ours = run_on(ours, "ferrovs");
        (ours, stock.join())
    });
    match stock {
        Ok(stock) => (ours, stock),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Network devices deleted on drop if they still exist.
pub struct LinksGone(pub Vec<String>);

impl Drop for LinksGone {
    fn drop(&mut self) {
        for l in &self.0 {
            if Path::new("/sys/class/net").join(l).exists() {
                let _ = run(&["ip", "link", "del", l]);
            }
        }
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        // Host ends in the switch's namespace go with it.
        if self.switch.is_none() {
            for h in &self.host {
                let _ = run(&["ip", "link", "del", h]);
            }
        }
    }
}

/// Masks `used:` times and UFIDs (stock generates them from a random
/// hash basis), drops `dp-extra-info` (stock's internal miniflow sizes,
/// a known difference) and sorts the flow lines (datapaths dump flows
/// in hash order).
pub fn normalize_flows(s: &str) -> String {
    let mut head = Vec::new();
    let mut flows = Vec::new();
    for line in s.lines() {
        let line = line.split(", dp-extra-info:").next().unwrap_or(line);
        let line = match line.strip_prefix("ufid:") {
            Some(rest) if rest.len() > 36 => format!("ufid:<ufid>{}", &rest[36..]),
            _ => line.to_string(),
        };
        let line = line.as_str();
        let mut l = String::new();
        let mut rest = line;
        while let Some(i) = rest.find("used:") {
            l.push_str(&rest[..i + 5]);
            rest = &rest[i + 5..];
            if !rest.starts_with("never") {
                let end = rest.find(',').unwrap_or(rest.len());
                l.push_str("<t>");
                rest = &rest[end..];
            }
        }
        l.push_str(rest);
        if l.contains(", actions:") {
            flows.push(l);
        } else {
            head.push(l);
        }
    }
    flows.sort();
    head.extend(flows);
    head.iter().map(|l| format!("{l}\n")).collect()
}
