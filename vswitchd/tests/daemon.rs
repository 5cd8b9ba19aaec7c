//! ferrovs-vswitchd's life cycle and robustness, driven by the stock tools:
//! command line, pidfile and control socket, log format and reopening,
//! exit, OVSDB outages, hostile control-socket input, a misbehaving OVSDB
//! peer, and a storm of transactions.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox};
use ferrovs_tests::vsctl;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY: &[&str] = &["--enable-dummy", "--disable-system"];

fn ferrovs() -> &'static Path {
    Path::new(FERROVS)
}

fn sandbox(name: &str) -> Option<Sandbox> {
    if !stock_ovs_available(name) {
        return None;
    }
    Some(Sandbox::with_vswitchd(name, ferrovs(), DUMMY))
}

fn ok(sb: &Sandbox, out: std::process::Output, what: &str) -> String {
    sb.succeeded(out, what)
}

fn ctl_path(sb: &Sandbox) -> PathBuf {
    let pid = sb.vswitchd_pid().expect("running");
    sb.dir.join(format!("ovs-vswitchd.{pid}.ctl"))
}

#[test]
fn command_line_help_version_and_bad_options() {
    let out = Command::new(FERROVS).arg("-V").output().unwrap();
    assert!(out.status.success());
    let v = text(&out.stdout);
    assert!(v.starts_with("ovs-vswitchd (Open vSwitch) 3.1.0\n"), "{v}");
    assert!(v.contains("ferrovs-vswitchd"), "{v}");

    let out = Command::new(FERROVS)
        .arg("--help")
        .env("OVS_RUNDIR", "/some/run")
        .output()
        .unwrap();
    assert!(out.status.success());
    let h = text(&out.stdout);
    assert!(
        h.contains("unix:/some/run/db.sock") && h.contains("--enable-dummy"),
        "{h}"
    );

    let out = Command::new(FERROVS).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unrecognized option '--frobnicate'"));

    let out = Command::new(FERROVS)
        .args(["-vnosuchmodule"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no destination, level, or module \"nosuchmodule\""));

    let out = Command::new(FERROVS).args(["a", "b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn pidfile_control_socket_log_and_exit() {
    let Some(mut sb) = sandbox("lifecycle") else {
        return;
    };
    let pid = sb.vswitchd_pid().unwrap();
    let pidfile = std::fs::read_to_string(sb.dir.join("ovs-vswitchd.pid")).unwrap();
    assert_eq!(pidfile.trim(), pid.to_string());
    // With and without -t.
    let v = ok(&sb, sb.appctl(&["version"]), "version");
    assert!(v.starts_with("ovs-vswitchd (Open vSwitch)"));
    let target = ctl_path(&sb).display().to_string();
    let v2 = ok(&sb, sb.appctl(&["-t", &target, "version"]), "version -t");
    assert_eq!(v, v2);
    ok(
        &sb,
        sb.appctl(&["-t", "ovs-vswitchd", "list-commands"]),
        "list-commands",
    );

    // A second daemon on the same pidfile refuses to start.
    let out = sb
        .command(FERROVS)
        .args(["--pidfile", "--enable-dummy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("already running"));

    // Log lines in vlog's file format.
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br");
    let log = sb.vswitchd_log();
    let line = log
        .lines()
        .find(|l| l.contains("|bridge|INFO|bridge br0: added interface br0 on port 65534"))
        .unwrap_or_else(|| panic!("no add line in log:\n{log}"));
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 5, "{line}");
    let ts = fields[0];
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T" && &ts[19..20] == ".",
        "{ts}"
    );
    assert!(
        fields[1].len() == 5 && fields[1].chars().all(|c| c.is_ascii_digit()),
        "{line}"
    );

    // vlog/reopen and SIGHUP reopen the log after rotation.
    let log_path = sb.dir.join("ovs-vswitchd.log");
    std::fs::rename(&log_path, sb.dir.join("ovs-vswitchd.log.1")).unwrap();
    ok(&sb, sb.appctl(&["vlog/reopen"]), "vlog/reopen");
    assert!(std::fs::read_to_string(&log_path)
        .unwrap()
        .contains("|vlog|INFO|opened log file"));
    std::fs::rename(&log_path, sb.dir.join("ovs-vswitchd.log.2")).unwrap();
    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    sb.wait_for(|| log_path.exists(), "log reopened on SIGHUP")
        .unwrap();
    assert!(sb.vswitchd_running());

    // exit --cleanup stops the daemon and removes the datapath.
    ok(&sb, sb.appctl(&["exit", "--cleanup"]), "exit --cleanup");
    assert_eq!(sb.wait_vswitchd_exit(Duration::from_secs(10)), Some(0));
    assert!(!ctl_path_exists(&sb.dir, pid), "control socket left behind");
    assert!(
        !sb.dir.join("ovs-vswitchd.pid").exists(),
        "pidfile left behind"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("bridge br0: deleted"), "{log}");
}

fn ctl_path_exists(dir: &Path, pid: u32) -> bool {
    dir.join(format!("ovs-vswitchd.{pid}.ctl")).exists()
}

#[test]
fn sigterm_stops_cleanly() {
    let Some(mut sb) = sandbox("sigterm") else {
        return;
    };
    let pid = sb.vswitchd_pid().unwrap();
    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert_eq!(sb.wait_vswitchd_exit(Duration::from_secs(10)), Some(0));
    assert!(!sb.dir.join("ovs-vswitchd.pid").exists());
    assert!(!ctl_path_exists(&sb.dir, pid));
}

#[test]
fn detach_and_monitor() {
    if !stock_ovs_available("detach") {
        return;
    }
    let sb = Sandbox::new("detach").expect("sandbox");
    let out = sb
        .command(FERROVS)
        .args([
            "--enable-dummy",
            "--detach",
            "--monitor",
            "--no-chdir",
            "--pidfile",
            "--log-file",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The parent returned only once the daemon was ready.
    let v = ok(&sb, sb.appctl(&["version"]), "version after --detach");
    assert!(v.contains("Open vSwitch"));
    ok(&sb, sb.appctl(&["exit"]), "exit");
    sb.wait_for(|| !sb.dir.join("ovs-vswitchd.pid").exists(), "daemon exit")
        .unwrap();
}

#[test]
fn survives_ovsdb_server_restart() {
    let Some(mut sb) = sandbox("reconnect") else {
        return;
    };
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br");
    sb.vsctl_ok(&vsctl::add_port("br0", "p1", &["type=dummy"]), "add-port");
    let before = ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show");

    sb.kill_ovsdb();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(sb.vswitchd_running(), "daemon died with the database");
    // The running configuration is intact while the database is away.
    assert_eq!(
        ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show during outage"),
        before
    );

    sb.start_ovsdb().expect("restart ovsdb-server");
    // ovs-vsctl waits until the daemon has applied the change.
    sb.vsctl_ok(
        &vsctl::add_port("br0", "p2", &["type=dummy"]),
        "add-port after restart",
    );
    let after = ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show after");
    assert!(after.contains("    p1 1/1: (dummy)"), "{after}");
    assert!(after.contains("    p2 2/2: (dummy)"), "{after}");
    let ofport = ok(
        &sb,
        sb.vsctl(&["get", "interface", "p2", "ofport"]),
        "get ofport",
    );
    assert_eq!(ofport.trim(), "2");
    let log = sb.vswitchd_log();
    assert!(log.contains("|reconnect|INFO|"), "{log}");
    // The existing port was not re-created by the resynchronization.
    assert_eq!(
        log.matches("added interface p1 on port").count(),
        1,
        "{log}"
    );
}

/// Sends raw bytes to the control socket; returns what came back.
fn raw_exchange(path: &Path, bytes: &[u8], half_close: bool) -> String {
    let mut s = UnixStream::connect(path).expect("connect control socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if !half_close && out.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn hostile_control_socket_input() {
    let Some(mut sb) = sandbox("hostile-unixctl") else {
        return;
    };
    let path = ctl_path(&sb);
    let r = raw_exchange(&path, b"this is not json", false);
    assert!(r.contains("\"error\"") && r.contains("syntax error"), "{r}");
    let r = raw_exchange(&path, b"[1,2,3]", false);
    assert!(r.contains("not a JSON object"), "{r}");
    let r = raw_exchange(&path, br#"{"method":"version","params":[1],"id":7}"#, false);
    assert!(
        r.contains("\"version\\\" command has non-string argument") || r.contains("takes at most"),
        "{r}"
    );
    let r = raw_exchange(
        &path,
        br#"{"method":"vlog/set","params":[1],"id":7}"#,
        false,
    );
    assert!(r.contains("non-string argument"), "{r}");
    let r = raw_exchange(&path, br#"{"method":"version","params":"x","id":1}"#, false);
    assert!(r.contains("error"), "{r}");
    // Truncated: the peer hangs up mid-message.
    let _ = raw_exchange(&path, br#"{"method":"version","par"#, true);
    // Deep nesting.
    let r = raw_exchange(&path, &b"[".repeat(200_000), false);
    assert!(r.contains("error"), "{r}");
    // Oversized: more than the 1 MiB limit without completing a message.
    let mut big = br#"{"method":"version","params":[""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 3 << 20));
    let r = raw_exchange(&path, &big, false);
    assert!(r.contains("larger than"), "{r}");
    // Many idle connections held open do not lock ovs-appctl out.
    let conns: Vec<UnixStream> = (0..200)
        .filter_map(|_| UnixStream::connect(&path).ok())
        .collect();
    ok(
        &sb,
        sb.appctl(&["version"]),
        "version with idle connections open",
    );
    drop(conns);
    // Still alive and answering.
    assert!(sb.vswitchd_running());
    let v = ok(&sb, sb.appctl(&["version"]), "version after abuse");
    assert!(v.contains("Open vSwitch"));
    assert!(sb.vswitchd_log().contains("|unixctl|WARN|"));
}

#[test]
fn misbehaving_ovsdb_peer() {
    if !stock_ovs_available("fake-ovsdb") {
        return;
    }
    let mut sb = Sandbox::new("fake-ovsdb").expect("sandbox");
    let fake = sb.dir.join("fake.sock");
    let listener = UnixListener::bind(&fake).unwrap();
    let target = format!("unix:{}", fake.display());
    sb.start_vswitchd(ferrovs(), &[DUMMY, &[target.as_str()]].concat())
        .expect("start");
    let replies: &[&[u8]] = &[
        b"garbage that is not JSON",
        br#"{"id":1,"result":{"tables":17},"error":null}"#,
        br#"{"id":1,"result":{"tables":{"Bridge":{"columns":{"name":{"type":"string"}}}}},"error":null}{"id":2,"result":[1,2,3],"error":null}"#,
        br#"{"method":"update2","params":[null,{"Bridge":{"u":{"bogus":1}}}],"id":null}"#,
        br#"{"id":"nosuch","result":null,"error":null}[[[[[[[[[["#,
    ];
    for reply in replies {
        let (mut s, _) = listener.accept().expect("daemon reconnects");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(String::from_utf8_lossy(&buf[..n]).contains("get_schema"));
        let _ = s.write_all(reply);
        drop(s);
        assert!(
            sb.vswitchd_running(),
            "daemon died on {:?}",
            String::from_utf8_lossy(reply)
        );
    }
    ok(&sb, sb.appctl(&["version"]), "version");
}

#[test]
fn storm_of_transactions() {
    let Some(sb) = sandbox("storm") else { return };
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br");
    for i in 0..300 {
        let port = format!("s{}", i % 20);
        let args: Vec<String> = if i % 3 == 0 {
            vec![
                "--no-wait".into(),
                "--if-exists".into(),
                "del-port".into(),
                port,
            ]
        } else {
            vec![
                "--no-wait".into(),
                "--may-exist".into(),
                "add-port".into(),
                "br0".into(),
                port.clone(),
                "--".into(),
                "set".into(),
                "interface".into(),
                port,
                "type=dummy".into(),
            ]
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&sb, sb.vsctl(&args), "storm transaction");
    }
    // One waiting transaction: the daemon catches up with all of them.
    ok(
        &sb,
        sb.vsctl(&["set", "bridge", "br0", "external_ids:done=yes"]),
        "final",
    );
    let ports = ok(&sb, sb.vsctl(&["list-ports", "br0"]), "list-ports");
    let show = ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show");
    for p in ports.lines() {
        assert!(
            show.contains(&format!("    {p} ")),
            "{p} missing from\n{show}"
        );
    }
    assert_eq!(show.lines().count(), 3 + ports.lines().count(), "{show}");
    let mem = ok(&sb, sb.appctl(&["memory/show"]), "memory/show");
    assert!(
        mem.contains(&format!("ports:{}", ports.lines().count() + 1)),
        "{mem}"
    );
}

#[test]
fn missing_patch_peer_is_reported_until_it_appears() {
    let Some(sb) = sandbox("patch") else { return };
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br");
    sb.vsctl_ok(&vsctl::add_br("br1", "dummy", &[]), "add-br");
    sb.vsctl_ok(
        &vsctl::add_port("br0", "pa", &["type=patch", "options:peer=pb"]),
        "pa",
    );
    let err = ok(
        &sb,
        sb.vsctl(&["get", "interface", "pa", "error"]),
        "get error",
    );
    assert_eq!(
        err.trim(),
        "\"No usable peer 'pb' exists in 'dummy' datapath.\""
    );
    sb.vsctl_ok(
        &vsctl::add_port("br1", "pb", &["type=patch", "options:peer=pa"]),
        "pb",
    );
    let err = ok(
        &sb,
        sb.vsctl(&["get", "interface", "pa", "error"]),
        "get error",
    );
    assert_eq!(err.trim(), "[]");
    // A bridge whose datapath type does not exist fails alone.
    sb.vsctl_ok(&vsctl::add_br("br9", "nosuch", &[]), "add-br br9");
    assert!(sb
        .vswitchd_log()
        .contains("|bridge|ERR|failed to create bridge br9: unknown datapath type nosuch"));
    sb.vsctl_ok(&vsctl::add_port("br0", "late", &["type=dummy"]), "late");
    assert!(ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show").contains("    late "));
    // An interface moving from br1 to br0 in one transaction (br0 is
    // reconfigured first) comes up without an error.
    sb.vsctl_ok(&vsctl::add_port("br1", "mover", &["type=dummy"]), "mover");
    ok(
        &sb,
        sb.vsctl(&[
            "del-port",
            "br1",
            "mover",
            "--",
            "add-port",
            "br0",
            "mover",
            "--",
            "set",
            "interface",
            "mover",
            "type=dummy",
        ]),
        "move",
    );
    let err = ok(
        &sb,
        sb.vsctl(&["get", "interface", "mover", "error"]),
        "get error",
    );
    assert_eq!(err.trim(), "[]");
    let show = ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show");
    let br0_part = show.split("  br1:").next().unwrap_or("");
    assert!(br0_part.contains("    mover "), "{show}");
}

/// Kills a child process when dropped (also when the test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tcp_database_unixctl_option_and_lock_handover() {
    if !stock_ovs_available("tcp-lock") {
        return;
    }
    let mut sb = Sandbox::new("tcp-lock").expect("sandbox");
    let out = sb.run(
        "ovs-appctl",
        &[
            "-t",
            "ovsdb-server",
            "ovsdb-server/add-remote",
            "ptcp:0:127.0.0.1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log_path = sb.dir.join("ovsdb-server.log");
    let mut port = None;
    sb.wait_for(
        || {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            port = log
                .lines()
                .filter_map(|l| l.split("listening on port ").nth(1))
                .filter_map(|p| p.trim().parse::<u16>().ok())
                .next_back();
            port.is_some()
        },
        "ovsdb-server tcp port",
    )
    .unwrap();
    let target = format!("tcp:127.0.0.1:{}", port.unwrap());
    sb.spawn_vswitchd(
        ferrovs(),
        &[DUMMY, &[target.as_str(), "--unixctl=first.ctl"]].concat(),
    )
    .expect("start over tcp");
    let first_ctl = sb.dir.join("first.ctl").display().to_string();
    sb.wait_for(
        || sb.appctl(&["-t", &first_ctl, "version"]).status.success(),
        "first.ctl",
    )
    .unwrap();
    ok(
        &sb,
        sb.appctl(&["-t", &first_ctl, "version"]),
        "version over --unixctl socket",
    );
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br over tcp");

    // A second daemon on the same database waits for the lock...
    let second = sb
        .command(FERROVS)
        .args(DUMMY)
        .args([
            "--unixctl=second.ctl",
            "--log-file=second.log",
            "-vconsole:off",
        ])
        .spawn()
        .expect("spawn second daemon");
    let _second = KillOnDrop(second);
    let second_log = sb.dir.join("second.log");
    sb.wait_for(
        || {
            std::fs::read_to_string(&second_log)
                .unwrap_or_default()
                .contains("waiting for lock ovs_vswitchd")
        },
        "second daemon waiting for the lock",
    )
    .unwrap();
    let second_ctl = sb.dir.join("second.ctl").display().to_string();
    let show = ok(
        &sb,
        sb.appctl(&["-t", &second_ctl, "dpif/show"]),
        "second dpif/show",
    );
    assert!(
        show.is_empty(),
        "second daemon configured bridges without the lock:\n{show}"
    );

    // ...and takes over when the first one goes away.
    assert!(sb.stop_vswitchd());
    sb.vsctl_ok(
        &vsctl::add_port("br0", "p1", &["type=dummy"]),
        "add-port after handover",
    );
    let show = ok(
        &sb,
        sb.appctl(&["-t", &second_ctl, "dpif/show"]),
        "second dpif/show",
    );
    assert!(show.contains("    p1 1/1: (dummy)"), "{show}");
}

/// The resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn thousands_of_transactions_on_one_connection() {
    let Some(sb) = sandbox("txn-storm") else {
        return;
    };
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br");
    let rss_before = rss_kib(sb.vswitchd_pid().unwrap());
    let mut db = UnixStream::connect(sb.dir.join("db.sock")).expect("connect db.sock");
    // Drain replies on the side so that the server never stalls on us.
    let mut reader = db.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut total = 0usize;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    for i in 0..2000 {
        let port = format!("t{}", i % 100);
        let txn = if i < 100 {
            format!(
                r#"{{"id":{i},"method":"transact","params":["Open_vSwitch",
                {{"op":"insert","table":"Interface","row":{{"name":"{port}","type":"dummy"}},"uuid-name":"i"}},
                {{"op":"insert","table":"Port","row":{{"name":"{port}","interfaces":["named-uuid","i"]}},"uuid-name":"p"}},
                {{"op":"mutate","table":"Bridge","where":[["name","==","br0"]],
                  "mutations":[["ports","insert",["set",[["named-uuid","p"]]]]]}}]}}"#
            )
        } else {
            // Churn: MTU, ofport requests (some clashing), options.
            format!(
                r#"{{"id":{i},"method":"transact","params":["Open_vSwitch",
                {{"op":"update","table":"Interface","where":[["name","==","{port}"]],
                  "row":{{"mtu_request":{},"ofport_request":{},"options":["map",[["k","{i}"]]]}}}}]}}"#,
                1280 + i % 500,
                1 + i % 150
            )
        };
        db.write_all(txn.as_bytes()).expect("send transaction");
    }
    // One ovs-vsctl that waits: the daemon has caught up with all of it.
    ok(
        &sb,
        sb.vsctl(&["set", "bridge", "br0", "external_ids:storm=done"]),
        "final",
    );
    // Shutting down (not just dropping one handle) ends the reader too.
    let _ = db.shutdown(std::net::Shutdown::Both);
    let _ = drain.join();
    let show = ok(&sb, sb.appctl(&["dpif/show"]), "dpif/show");
    assert_eq!(show.lines().count(), 2 + 101, "{show}");
    // Every interface got a distinct OpenFlow port.
    let ofports = ok(
        &sb,
        sb.vsctl(&["--bare", "--columns=ofport", "list", "interface"]),
        "ofports",
    );
    let mut nums: Vec<i64> = ofports
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(nums.len(), 101, "{ofports}");
    assert!(nums.iter().all(|n| *n > 0), "{ofports}");
    nums.sort();
    nums.dedup();
    assert_eq!(nums.len(), 101, "duplicate ofports: {ofports}");
    // Memory stays bounded (generous: a leak per transaction would show).
    let rss_after = rss_kib(sb.vswitchd_pid().unwrap());
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}
