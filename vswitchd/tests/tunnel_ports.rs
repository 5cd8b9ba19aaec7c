//! Tunnel interfaces with the same receive-side match against stock
//! ovs-vswitchd (stock ovsdb-server, dummy datapath): stock's tunnel
//! module refuses the second one (`EEXIST`), which ovs-vsctl reports,
//! which the interface's `error` column names (with `ofport` -1), and
//! which burns an OpenFlow port number at each retry (every
//! reconfiguration, so how many is timing), so that the port numbers of
//! the tunnels added after it move too. ferrovs must answer and log the
//! same.
//!
//! Needs the stock OVS tools: skips with a message otherwise, fails
//! under CI=true.

use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// What the tools say through the steps, and the tunnel warnings logged.
fn session(name: &str, program: &Path) -> Vec<(String, String)> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    let mut answers = Vec::new();
    for cmd in [
        "add-br br0 -- set bridge br0 datapath_type=dummy -- add-port br0 p1 -- set interface p1 type=dummy",
        "add-port br0 t1 -- set interface t1 type=vxlan options:remote_ip=1.1.2.92",
        // Same match as t1 (the output key is not part of it).
        "add-port br0 t2 -- set interface t2 type=vxlan options:remote_ip=1.1.2.92 options:out_key=7",
        "add-port br0 t3 -- set interface t3 type=vxlan options:remote_ip=1.1.2.92 options:key=5",
        "add-port br0 t4 -- set interface t4 type=geneve options:remote_ip=1.1.2.92",
        "add-port br0 t5 -- set interface t5 type=gre options:remote_ip=flow",
        "add-port br0 t6 -- set interface t6 type=gre options:remote_ip=flow",
        // Another bridge of the same datapath shares the tunnel ports.
        "add-br br1 -- set bridge br1 datapath_type=dummy -- add-port br1 t7 -- set interface t7 type=geneve options:remote_ip=1.1.2.92",
    ] {
        let out = sb.vsctl(&cmd.split(' ').collect::<Vec<_>>());
        // The refusal names the log directory, which differs.
        let err: String = text(&out.stderr)
            .lines()
            .filter(|l| !l.contains("default log directory"))
            .map(|l| format!("{l}\n"))
            .collect();
        answers.push((cmd.to_string(), format!("rc={:?}\n{err}", out.status.code())));
        let list = text(
            &sb.vsctl(&[
                "--columns=name,ofport,error",
                "--format=csv",
                "list",
                "interface",
            ])
            .stdout,
        );
        // How many numbers the retries burn depends on how often the
        // daemon reconfigures (its own status writes count too), which
        // is timing: numbers after t1's are compared as "N".
        let mut rows: Vec<String> = list
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(3, ',').collect();
                match f.as_slice() {
                    [name, n, rest] if n.parse::<u16>().is_ok_and(|n| n > 2 && n < 65534) => {
                        format!("{name},N,{rest}")
                    }
                    _ => l.to_string(),
                }
            })
            .collect();
        rows.sort();
        answers.push((format!("after {cmd}: interfaces"), rows.join("\n")));
    }
    // `NAME OFPORT/ODPPORT: ...`, OpenFlow numbers after t1's masked.
    let show: Vec<String> = text(&sb.appctl(&["dpif/show"]).stdout)
        .lines()
        .map(|l| {
            let words: Vec<&str> = l.trim_start().splitn(3, [' ', '/']).collect();
            match words.as_slice() {
                [name, n, rest] if n.parse::<u16>().is_ok_and(|n| n > 2 && n < 65534) => {
                    format!("{name} N/{rest}")
                }
                _ => l.to_string(),
            }
        })
        .collect();
    answers.push(("dpif/show".to_string(), show.join("\n")));
    let warnings: Vec<String> = sb
        .vswitchd_log()
        .lines()
        .filter(|l| l.contains("same config as port"))
        .filter_map(|l| l.split_once("|tunnel|").map(|(_, w)| w.to_string()))
        .collect();
    answers.push(("tunnel warnings".to_string(), warnings.join("\n")));
    answers
}

#[test]
fn duplicate_tunnel_ports_are_refused_as_stock() {
    if !stock_ovs_available("duplicate_tunnel_ports_are_refused_as_stock") {
        return;
    }
    let stock = session("tnlmatch-stock", Path::new(STOCK_VSWITCHD));
    let ours = session("tnlmatch-ferrovs", Path::new(FERROVS));
    assert!(
        stock
            .iter()
            .any(|(_, a)| a.contains("could not add network device t2 to ofproto (File exists)")),
        "stock refused no tunnel: {stock:?}"
    );
    assert_eq!(stock.len(), ours.len());
    for ((what, s), (_, o)) in stock.iter().zip(&ours) {
        assert_eq!(s, o, "{what}");
    }
}
