//! Differential test of the tunnel route table against Open vSwitch: a
//! stock ovs-vswitchd (in a scratch directory, no bridges) reads the
//! host's routes; its `ovs/route/show` must list the same routes as
//! ours, and `ovs/route/lookup` must agree for a few destinations.
//!
//! Needs the stock daemons (openvswitch-switch) and root; skips without
//! them, but fails under CI=true.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrovs_netdev::route::RouteTable;

struct Sandbox {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

impl Sandbox {
    fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(tool(name).unwrap_or_else(|| PathBuf::from(name)));
        for v in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(v, &self.dir);
        }
        c.stdin(Stdio::null());
        c
    }

    fn appctl(&self, args: &[&str]) -> Result<String, String> {
        let pid = std::fs::read_to_string(self.dir.join("ovs-vswitchd.pid"))
            .map_err(|e| e.to_string())?;
        let target = self.dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()));
        let out = self
            .cmd("ovs-appctl")
            .arg("-t")
            .arg(&target)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn start() -> Result<Sandbox, String> {
        let dir = std::env::temp_dir().join(format!("ferrovs-route-stock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut sb = Sandbox {
            dir,
            children: Vec::new(),
        };
        let d = sb.dir.to_string_lossy().into_owned();
        let schema = "/usr/share/openvswitch/vswitch.ovsschema";
        let ok = sb
            .cmd("ovsdb-tool")
            .args(["create", &format!("{d}/conf.db"), schema])
            .status()
            .map_err(|e| e.to_string())?;
        if !ok.success() {
            return Err("ovsdb-tool create failed".into());
        }
        let sock = format!("{d}/db.sock");
        let c = sb
            .cmd("ovsdb-server")
            .args([
                &format!("{d}/conf.db"),
                &format!("--remote=punix:{sock}"),
                "--no-chdir",
                &format!("--pidfile={d}/ovsdb-server.pid"),
                &format!("--unixctl={d}/ovsdb-server.ctl"),
                &format!("--log-file={d}/ovsdb-server.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        sb.children.push(c);
        wait_for(|| Path::new(&sock).exists())?;
        let c = sb
            .cmd("ovs-vswitchd")
            .args([
                &format!("unix:{sock}"),
                "--no-chdir",
                &format!("--pidfile={d}/ovs-vswitchd.pid"),
                &format!("--log-file={d}/ovs-vswitchd.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        sb.children.push(c);
        wait_for(|| sb.appctl(&["version"]).is_ok())?;
        Ok(sb)
    }
}

fn wait_for(mut f: impl FnMut() -> bool) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("timed out waiting for the stock daemons".into())
}

fn lines(show: &str) -> BTreeSet<String> {
    show.lines()
        .filter(|l| l.starts_with("Cached:") || l.starts_with("User:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn route_table_matches_stock() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let have = ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-appctl"]
        .iter()
        .all(|t| tool(t).is_some());
    if !root || !have {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "stock route differential needs root and the stock daemons under CI"
        );
        eprintln!("SKIP stock route differential: needs root and openvswitch-switch");
        return;
    }
    let sb = Sandbox::start().unwrap();
    // Stock reads the routes at start-up; wait until it shows some.
    let mut stock = String::new();
    wait_for(|| {
        stock = sb.appctl(&["ovs/route/show"]).unwrap_or_default();
        !lines(&stock).is_empty()
    })
    .unwrap();
    let ours = RouteTable::from_system().unwrap();
    let (s, o) = (lines(&stock), lines(&ours.show()));
    eprintln!("stock ovs/route/show:\n{stock}");
    assert_eq!(
        s,
        o,
        "stock:\n{stock}\nours:\n{}\nonly stock: {:?}\nonly ours: {:?}",
        ours.show(),
        s.difference(&o).collect::<Vec<_>>(),
        o.difference(&s).collect::<Vec<_>>()
    );
    // Lookups agree (src, gateway and device), for every route's own
    // prefix address and a few others.
    let mut targets: Vec<String> = ["127.0.0.1", "8.8.8.8", "::1", "2001:db8::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for l in &s {
        if let Some(p) = l
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.split('/').next())
        {
            targets.push(p.to_string());
        }
    }
    for t in targets {
        let ip: std::net::IpAddr = t.parse().unwrap();
        let stock = sb.appctl(&["ovs/route/lookup", &t]).ok();
        let ours = ours.lookup(0, ip).map(|h| {
            let f = |a: &std::net::Ipv6Addr| match a.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => a.to_string(),
            };
            format!("src {}\ngateway {}\ndev {}\n", f(&h.src), f(&h.gw), h.dev)
        });
        assert_eq!(stock, ours, "lookup {t}");
    }
}
