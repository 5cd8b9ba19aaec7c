//! Differential test against stock Open vSwitch: stock ovs-vswitchd with a
//! dummy datapath takes each flow of tests/data/odp-stock-flows.txt through
//! `ovs-appctl dpctl/add-flow` and prints it with `dpctl/dump-flows` (and
//! `-m`). ferrovs must print exactly what stock prints: parsing stock's
//! text and printing it again gives the same text, and the verbose form,
//! parsed and printed briefly, gives stock's brief form.
//!
//! Skips (with a message) when the stock binaries are missing, unless
//! CI=true, where that is a failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrovs_dpif::odp::{self, FormatOptions};

const TOOLS: &[&str] = &[
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovs-appctl",
];

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A sandbox of stock daemons, killed when dropped (also on panic).
struct Sandbox {
    dir: PathBuf,
    children: Vec<Child>,
    tools: HashMap<&'static str, PathBuf>,
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

impl Sandbox {
    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(&self.tools[tool]);
        c.env("OVS_RUNDIR", &self.dir)
            .env("OVS_LOGDIR", &self.dir)
            .env("OVS_DBDIR", &self.dir)
            .env("OVS_SYSCONFDIR", &self.dir);
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        let out = self
            .cmd(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{tool} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn appctl(&self, args: &[&str]) -> Result<String, String> {
        let pid = std::fs::read_to_string(self.dir.join("ovs-vswitchd.pid"))
            .map_err(|e| e.to_string())?;
        let target = self.dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()));
        let target = target.to_string_lossy().into_owned();
        let mut full = vec!["-t", target.as_str()];
        full.extend_from_slice(args);
        self.run("ovs-appctl", &full)
    }

    /// The stock tools, or the name of the first one missing.
    fn tools() -> Result<HashMap<&'static str, PathBuf>, String> {
        let mut tools = HashMap::new();
        for t in TOOLS {
            tools.insert(*t, find_tool(t).ok_or_else(|| format!("{t} not found"))?);
        }
        Ok(tools)
    }

    fn start(tools: HashMap<&'static str, PathBuf>) -> Result<Sandbox, String> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("ferrovs-odp-stock-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut sb = Sandbox {
            dir,
            children: Vec::new(),
            tools,
        };
        let d = sb.dir.to_string_lossy().into_owned();
        let schema = ["/usr/share/openvswitch/vswitch.ovsschema"]
            .iter()
            .find(|p| Path::new(p).is_file())
            .ok_or("vswitch.ovsschema not found")?;
        sb.run("ovsdb-tool", &["create", &format!("{d}/conf.db"), schema])?;
        let db_sock = format!("{d}/db.sock");
        let child = sb
            .cmd("ovsdb-server")
            .args([
                &format!("{d}/conf.db"),
                &format!("--remote=punix:{db_sock}"),
                "--no-chdir",
                &format!("--pidfile={d}/ovsdb-server.pid"),
                &format!("--unixctl={d}/ovsdb-server.ctl"),
                &format!("--log-file={d}/ovsdb-server.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        sb.children.push(child);
        wait_for(|| Path::new(&db_sock).exists(), "ovsdb-server socket")?;
        let child = sb
            .cmd("ovs-vswitchd")
            .args([
                &format!("unix:{db_sock}"),
                "--enable-dummy",
                "--disable-system",
                "--no-chdir",
                &format!("--pidfile={d}/ovs-vswitchd.pid"),
                &format!("--log-file={d}/ovs-vswitchd.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        sb.children.push(child);
        wait_for(
            || sb.appctl(&["version"]).is_ok(),
            "ovs-vswitchd control socket",
        )?;
        let db = format!("--db=unix:{db_sock}");
        sb.run(
            "ovs-vsctl",
            &[
                &db,
                "--timeout=30",
                "set",
                "Open_vSwitch",
                ".",
                "other_config:max-revalidator=100000",
                "--",
                "add-br",
                "br0",
                "--",
                "set",
                "bridge",
                "br0",
                "datapath_type=dummy",
                "--",
                "add-port",
                "br0",
                "p1",
                "--",
                "set",
                "interface",
                "p1",
                "type=dummy",
                "ofport_request=1",
                "--",
                "add-port",
                "br0",
                "p2",
                "--",
                "set",
                "interface",
                "p2",
                "type=dummy",
                "ofport_request=2",
                "--",
                "add-port",
                "br0",
                "vx",
                "--",
                "set",
                "interface",
                "vx",
                "type=vxlan",
                "options:remote_ip=flow",
                "options:key=flow",
                "--",
                "add-port",
                "br0",
                "gnv",
                "--",
                "set",
                "interface",
                "gnv",
                "type=geneve",
                "options:remote_ip=flow",
                "options:key=flow",
            ],
        )?;
        Ok(sb)
    }
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("timed out waiting for {what}"))
}

/// Splits a dump line into (match, actions), dropping the statistics.
fn split_dump(line: &str) -> (String, String) {
    let m = line.split(", packets:").next().unwrap_or("").to_string();
    let a = line.split(", actions:").nth(1).unwrap_or("");
    let a = a.split(", dp-extra-info:").next().unwrap_or("").to_string();
    (m, a)
}

fn port_maps(show: &str) -> (HashMap<u32, String>, HashMap<String, u32>) {
    let mut by_no = HashMap::new();
    let mut by_name = HashMap::new();
    for l in show.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("port ") {
            if let Some((no, name)) = rest.split_once(": ") {
                let name = name.split(' ').next().unwrap_or("").to_string();
                if let Ok(no) = no.parse::<u32>() {
                    by_no.insert(no, name.clone());
                    by_name.insert(name, no);
                }
            }
        }
    }
    (by_no, by_name)
}

#[test]
fn dpctl_text_matches_stock() {
    let tools = match Sandbox::tools() {
        Ok(t) => t,
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("stock Open vSwitch is needed under CI: {e}");
            }
            eprintln!("SKIP dpctl_text_matches_stock: stock Open vSwitch missing: {e}");
            return;
        }
    };
    // With the tools present, a sandbox that does not come up is a failure.
    let sb = Sandbox::start(tools).unwrap_or_else(|e| panic!("stock sandbox: {e}"));
    let show = sb.appctl(&["dpctl/show"]).unwrap();
    let (by_no, by_name) = port_maps(&show);
    assert!(by_name.contains_key("p1"), "{show}");
    let corpus = std::fs::read_to_string(format!(
        "{}/tests/data/odp-stock-flows.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let brief = FormatOptions::default();
    let verbose = FormatOptions {
        verbose: true,
        port_names: Some(&by_no),
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for flow in corpus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (m, a) = flow.split_once(" actions:").unwrap();
        sb.appctl(&["dpctl/del-flows"]).unwrap();
        if let Err(e) = sb.appctl(&["dpctl/add-flow", m, a]) {
            failures.push(format!("stock rejected {flow}: {e}"));
            continue;
        }
        let dump = sb.appctl(&["dpctl/dump-flows"]).unwrap();
        let dump_m = sb.appctl(&["dpctl/dump-flows", "-m"]).unwrap();
        let line = dump.lines().find(|l| l.contains(", actions:"));
        let line_m = dump_m.lines().find(|l| l.contains(", actions:"));
        let (Some(line), Some(line_m)) = (line, line_m) else {
            failures.push(format!("flow vanished: {flow}\n{dump}\n{dump_m}"));
            continue;
        };
        let (sm, sa) = split_dump(line);
        let (vm, va) = split_dump(line_m);

        // Brief: parse stock's text and print it again.
        let f = odp::parse_flow(&sm, None).unwrap_or_else(|e| panic!("parse {sm}: {e}"));
        let mut out = String::new();
        odp::format_flow(&f.key, &f.mask, &brief, &mut out).unwrap();
        if out != sm {
            failures.push(format!("match (brief)\nstock: {sm}\nours:  {out}"));
        }
        // Verbose (-m), with port names and the ufid.
        let fv = odp::parse_flow(&vm, Some(&by_name)).unwrap_or_else(|e| panic!("parse {vm}: {e}"));
        let mut outv = format!(
            "{}, ",
            odp::format_ufid(fv.ufid.expect("ufid in -m output"))
        );
        odp::format_flow(&fv.key, &fv.mask, &verbose, &mut outv).unwrap();
        if outv != vm {
            failures.push(format!("match (-m)\nstock: {vm}\nours:  {outv}"));
        }
        // The verbose form printed briefly must be stock's brief form.
        let mut cross = String::new();
        odp::format_flow(&fv.key, &fv.mask, &brief, &mut cross).unwrap();
        if cross != sm {
            failures.push(format!("-m printed brief\nstock: {sm}\nours:  {cross}"));
        }
        // Actions, by number and by name.
        let ab = odp::parse_actions(&sa, None).unwrap_or_else(|e| panic!("parse {sa}: {e}"));
        let mut outa = String::new();
        odp::format_actions(&ab, &brief, &mut outa).unwrap();
        if outa != sa {
            failures.push(format!("actions\nstock: {sa}\nours:  {outa}"));
        }
        let abv =
            odp::parse_actions(&va, Some(&by_name)).unwrap_or_else(|e| panic!("parse {va}: {e}"));
        assert_eq!(abv, ab, "{va} vs {sa}");
        let mut outav = String::new();
        odp::format_actions(&abv, &verbose, &mut outav).unwrap();
        if outav != va {
            failures.push(format!("actions (-m)\nstock: {va}\nours:  {outav}"));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(checked >= 30, "only {checked} flows checked");
    eprintln!("checked {checked} flows against stock ovs-vswitchd");
}
