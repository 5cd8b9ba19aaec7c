//! Differential `ofproto/trace` runs: the same bridges, underlay, flows
//! and traces on stock ovs-vswitchd and on ferrovs-vswitchd (both on the
//! dummy datapath), and the comparison of what each printed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::sandbox::{text, Sandbox};
pub use crate::trace_text::megaflow_and_actions;

/// Arguments that put a daemon on the dummy datapath only.
pub const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// One differential scenario.
pub struct Scenario<'a> {
    /// `ovs-vsctl` command lines (split at spaces).
    pub setup: &'a [&'a str],
    /// Text `dpif/show` prints once every port is in the datapath.
    pub ready: &'a str,
    /// `ovs-appctl` commands run before the flows are added.
    pub underlay: &'a [&'a [&'a str]],
    /// `ovs-ofctl` commands run before the flows are added.
    pub ofctl: &'a [&'a [&'a str]],
    /// (bridge, flows, one per line) for `ovs-ofctl add-flows`.
    pub flows: &'a [(&'a str, &'a str)],
    /// (bridge, flow) to trace; bridge "ODP" traces a datapath flow.
    pub traces: &'a [(&'a str, &'a str)],
    /// `ovs-appctl` commands whose output is compared with its lines
    /// sorted (and `Cached:` lines left out).
    pub appctl_sorted: &'a [&'a str],
}

/// Panics with the command's stderr unless it succeeded.
pub fn must(out: Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", text(&out.stderr));
}

/// An exit code, stdout and stderr as one comparable text (log lines'
/// leading timestamps masked).
pub fn outcome(o: &Output) -> String {
    mask_log_times(&exit_and_output(o))
}

/// `rc=CODE`, a newline, then stdout and stderr as they are.
pub fn exit_and_output(o: &Output) -> String {
    format!(
        "rc={:?}\n{}{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// Replaces the `2026-11-21T05:11:55Z|` that starts a log line with
/// `TIME|`.
pub fn mask_log_times(s: &str) -> String {
    s.lines()
        .map(|l| {
            let b = l.as_bytes();
            let stamp = b.len() > 21
                && b[4] == b'-'
                && b[10] == b'T'
                && b[19] == b'Z'
                && b[20] == b'|'
                && b[..4].iter().all(u8::is_ascii_digit);
            if stamp {
                format!("TIME{}", &l[20..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `sc` on `program` in a new sandbox named `name`: the outcome of
/// every trace (keyed "bridge flow") and sorted command (keyed "appctl
/// command").
pub fn run(name: &str, program: &Path, sc: &Scenario) -> BTreeMap<String, String> {
    let mut sb = Sandbox::new(name).expect("sandbox");
    sb.start_vswitchd(program, DUMMY_ARGS)
        .expect("start vswitchd");
    let out = run_in(&sb, sc);
    sb.stop_vswitchd();
    out
}

/// Runs `sc` in a sandbox whose daemon is already up.
pub fn run_in(sb: &Sandbox, sc: &Scenario) -> BTreeMap<String, String> {
    for line in sc.setup {
        let args: Vec<&str> = line.split(' ').collect();
        must(sb.vsctl(&args), line);
    }
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains(sc.ready),
        "ports in the datapath",
    )
    .expect("ports");
    for cmd in sc.underlay {
        must(sb.appctl(cmd), &cmd.join(" "));
    }
    for cmd in sc.ofctl {
        must(sb.run("ovs-ofctl", cmd), &cmd.join(" "));
    }
    for (br, flows) in sc.flows {
        let file = sb.dir.join(format!("{br}.flows"));
        let body: String = flows.lines().map(|l| l.trim().to_string() + "\n").collect();
        std::fs::write(&file, body).expect("flows file");
        let f = file.display().to_string();
        must(sb.run("ovs-ofctl", &["add-flows", br, &f]), "add-flows");
    }
    let mut out = BTreeMap::new();
    for (br, flow) in sc.traces {
        let o = if *br == "ODP" {
            sb.appctl(&["ofproto/trace", "ovs-dummy", flow])
        } else {
            sb.appctl(&["ofproto/trace", br, flow])
        };
        out.insert(format!("{br} {flow}"), outcome(&o));
    }
    for cmd in sc.appctl_sorted {
        let o = sb.appctl(&cmd.split(' ').collect::<Vec<_>>());
        let mut shown: Vec<String> = text(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("Cached:"))
            .map(str::to_string)
            .collect();
        shown.sort();
        out.insert(
            format!("appctl {cmd}"),
            format!(
                "rc={:?}\n{}\n{}",
                o.status.code(),
                shown.join("\n"),
                text(&o.stderr)
            ),
        );
    }
    out
}

/// Compares two runs case by case: traces must agree on their megaflow
/// and actions (other text differences are printed), everything else in
/// full. Returns the failures; prints a summary titled `what`.
pub fn compare(
    what: &str,
    stock: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut full = 0;
    for (case, s) in stock {
        let o = ours.get(case).map(String::as_str).unwrap_or("(missing)");
        if s == o {
            full += 1;
        } else if megaflow_and_actions(s) == megaflow_and_actions(o)
            && !case.starts_with("appctl ")
            && !case.starts_with("ofctl ")
        {
            eprintln!("== {case}: same megaflow and actions, other text differs\n-- stock:\n{s}\n-- ferrovs:\n{o}");
        } else {
            failures.push(format!("== {case}\n-- stock:\n{s}\n-- ferrovs:\n{o}"));
        }
    }
    eprintln!(
        "{what}: {} cases, {} identical in full, {} differ",
        stock.len(),
        full,
        failures.len()
    );
    failures
}
