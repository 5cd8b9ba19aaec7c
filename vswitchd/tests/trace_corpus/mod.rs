//! The machinery of the differential `ofproto/trace` tests
//! (`trace_differential.rs`, `trace_mpls_conj.rs`): the bridge both
//! daemons get, running a pipeline's traces, normalizing the reports and
//! comparing stock's with ferrovs's.
// Each test crate uses a different subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};
use ferrovs_tests::trace_diff::exit_and_output;
use ferrovs_tests::trace_text::{megaflow_and_actions, split_actions};

pub const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// The bridge: four dummy ports with fixed OpenFlow numbers; secure fail
/// mode, so that the tables hold only the corpus' flows.
pub const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure protocols=OpenFlow10,OpenFlow13",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 p3 -- set interface p3 type=dummy ofport_request=3",
    "add-port br0 p4 -- set interface p4 type=dummy ofport_request=4",
];

/// One pipeline: the OpenFlow version for ovs-ofctl, the flows, and the
/// flows to trace (OpenFlow syntax against br0, `ODP:` + a datapath flow
/// traced on the datapath `ovs-dummy`, or `ARGS:` + the whole argument
/// list, space-separated).
pub struct Pipeline {
    pub name: &'static str,
    pub version: &'static str,
    pub flows: &'static str,
    pub traces: &'static [&'static str],
}

/// A sandbox running `program` with the bridge of `SETUP`, its ports up.
pub fn start(name: &str, program: &Path) -> Sandbox {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    for line in SETUP {
        let args: Vec<&str> = line.split(' ').collect();
        sb.vsctl_ok(&args, &format!("ovs-vsctl {line}"));
    }
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p4 4/"),
        "ports in the datapath",
    )
    .expect("ports");
    sb
}

/// Runs every pipeline of `corpus` on the bridge of `sb`: the report (or
/// error) of each case, keyed `NAME/TRACE`.
pub fn run_all(sb: &Sandbox, corpus: &[Pipeline]) -> BTreeMap<String, String> {
    let file = sb.dir.join("flows.txt");
    let mut results = BTreeMap::new();
    for p in corpus {
        run_pipeline(sb, p, &file, &mut results);
    }
    results
}

/// Installs pipeline `p` on br0 (through the flows file `file`) and
/// runs its traces; the normalized report (or error) of each, keyed
/// `NAME/TRACE`, goes into `results`.
pub fn run_pipeline(
    sb: &Sandbox,
    p: &Pipeline,
    file: &Path,
    results: &mut BTreeMap<String, String>,
) {
    let file_s = file.display().to_string();
    // Lines "GROUP ..." and "METER ..." are groups and meters,
    // added before the flows.
    let (setup, flows): (Vec<&str>, Vec<&str>) = p
        .flows
        .lines()
        .map(str::trim)
        .partition(|l| l.starts_with("GROUP ") || l.starts_with("METER "));
    let flows: String = flows.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(file, flows).expect("flows file");
    let out = sb.run("ovs-ofctl", &["-O", p.version, "del-flows", "br0"]);
    assert!(out.status.success(), "del-flows: {}", text(&out.stderr));
    let out = sb.run("ovs-ofctl", &["-O", "OpenFlow13", "del-groups", "br0"]);
    assert!(out.status.success(), "del-groups: {}", text(&out.stderr));
    let out = sb.run("ovs-ofctl", &["-O", "OpenFlow13", "del-meters", "br0"]);
    assert!(out.status.success(), "del-meters: {}", text(&out.stderr));
    for line in setup {
        let (cmd, arg) = match line.strip_prefix("GROUP ") {
            Some(g) => ("add-group", g),
            None => ("add-meter", line.trim_start_matches("METER ")),
        };
        let out = sb.run("ovs-ofctl", &["-O", "OpenFlow13", cmd, "br0", arg]);
        assert!(out.status.success(), "{cmd} {arg}: {}", text(&out.stderr));
    }
    let out = sb.run("ovs-ofctl", &["-O", p.version, "add-flows", "br0", &file_s]);
    assert!(
        out.status.success(),
        "{}: add-flows: {}",
        p.name,
        text(&out.stderr)
    );
    for t in p.traces {
        let report = trace(sb, t);
        results.insert(format!("{}/{t}", p.name), report);
    }
}

/// The normalized report (or error) of one trace request on br0: an
/// OpenFlow flow, `ODP:` and a datapath flow (traced on `ovs-dummy`),
/// or `ARGS:` and the whole argument list, space-separated.
/// `dpctl/dump-flows` without the counters, sorted (flows of packets
/// from several ports are listed in no fixed order).
pub fn datapath_flows(sb: &Sandbox) -> String {
    let flows = sb.succeeded(sb.appctl(&["dpctl/dump-flows"]), "dpctl/dump-flows");
    let mut flows: Vec<String> = flows
        .lines()
        .map(|l| match (l.find(", packets:"), l.find(" actions:")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &l[..a], &l[b..]),
            _ => l.to_string(),
        })
        .collect();
    flows.sort();
    flows.join("\n")
}

pub fn trace(sb: &Sandbox, t: &str) -> String {
    let out = if let Some(f) = t.strip_prefix("ODP:") {
        sb.appctl(&["ofproto/trace", "ovs-dummy", f])
    } else if let Some(args) = t.strip_prefix("ARGS:") {
        let mut v = vec!["ofproto/trace"];
        v.extend(args.split(' '));
        sb.appctl(&v)
    } else {
        sb.appctl(&["ofproto/trace", "br0", t])
    };
    normalize(&exit_and_output(&out))
}

/// Recirculation ids are allocated per daemon: the one in a controller
/// cookie is replaced by a placeholder. Flooding outputs to ports in the
/// order of stock's bundle hash table (it varies from run to run), so a
/// list of plain port outputs is sorted.
pub fn normalize(report: &str) -> String {
    let floods = report.contains(" flooding\n")
        || report.contains("\n    FLOOD\n")
        || report.contains("\n    ALL\n");
    let report: String = report
        .lines()
        .map(|l| match l.strip_prefix("Datapath actions: ") {
            Some(a) if floods && a.split(',').all(|p| p.parse::<u32>().is_ok()) => {
                let mut ports: Vec<u32> = a.split(',').filter_map(|p| p.parse().ok()).collect();
                ports.sort_unstable();
                let ports: Vec<String> = ports.iter().map(u32::to_string).collect();
                format!("Datapath actions: {}\n", ports.join(","))
            }
            Some(a) if floods && a.contains("_vlan") => {
                match canonical_vlan_flood(a, input_tag(report)) {
                    Some(c) => format!("Datapath actions: {c}\n"),
                    None => format!("{l}\n"),
                }
            }
            _ => format!("{l}\n"),
        })
        .collect();
    // Stock frees a traced recirculation id and allocates the next one
    // for the next trace; ferrovs shares ids among equal frozen states:
    // ids become placeholders.
    let report = mask_hex_after(&report, "recirc(0x");
    let report = mask_hex_after(&report, "recirc_id=0x");
    let report = report.as_str();
    let mut out = String::new();
    let mut rest = report;
    while let Some(at) = rest.find(",continuation=0,recirc_id=") {
        let (head, tail) = rest.split_at(at + ",continuation=0,recirc_id=".len());
        out.push_str(head);
        out.push('N');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// The traced packet's VLAN tag, from the report's `Flow:` line, in the
/// form of the push action that would make it.
fn input_tag(report: &str) -> Option<String> {
    let flow = report.lines().find_map(|l| l.strip_prefix("Flow: "))?;
    let field = |name: &str| {
        flow.split(',')
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_string)
    };
    let vid = field("dl_vlan=")?;
    let pcp = field("dl_vlan_pcp=").unwrap_or_else(|| "0".into());
    Some(format!("push_vlan(vid={vid},pcp={pcp})"))
}

/// A flood with VLAN pushes and pops as the set of (port, tags the
/// packet has there), sorted: stock's port order varies, and so do the
/// push/pop actions between the outputs. The packet starts with
/// `input_tag` (as a push action would make it). `None` for other lists.
fn canonical_vlan_flood(a: &str, input_tag: Option<String>) -> Option<String> {
    let mut tags: Vec<String> = input_tag.into_iter().collect();
    let mut outs = Vec::new();
    for act in split_actions(a) {
        if act.starts_with("push_vlan(") {
            tags.push(act.to_string());
        } else if act == "pop_vlan" {
            tags.pop()?;
        } else if act.parse::<u32>().is_ok() {
            outs.push(format!("{act}[{}]", tags.join("+")));
        } else {
            return None;
        }
    }
    outs.sort();
    Some(format!("flood {}", outs.join(" ")))
}

/// Replaces the hex digits after each `prefix` with `N`.
fn mask_hex_after(s: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(prefix) {
        let (head, tail) = rest.split_at(at + prefix.len());
        out.push_str(head);
        out.push('N');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

/// Runs `run` (a corpus: each case's report) on stock ovs-vswitchd and
/// then on `ferrovs` (sandboxes PREFIX-stock and PREFIX-ferrovs), and
/// checks that each ran all `n_cases`; None (the test skips) when the
/// stock programs are missing.
pub fn on_both(
    test: &str,
    prefix: &str,
    ferrovs: &Path,
    n_cases: usize,
    run: impl Fn(&str, &Path) -> BTreeMap<String, String>,
) -> Option<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    if !stock_ovs_available(test) {
        return None;
    }
    let stock = run(&format!("{prefix}-stock"), Path::new(STOCK_VSWITCHD));
    let ours = run(&format!("{prefix}-ferrovs"), ferrovs);
    assert_eq!(stock.len(), n_cases, "every case ran on stock");
    assert_eq!(ours.len(), n_cases, "every case ran on ferrovs");
    Some((stock, ours))
}

/// Compares stock's reports with ferrovs's, case by case: the
/// `Megaflow:` and `Datapath actions:` lines must be the same (fdb/*
/// outputs whole), except for `known_gaps`, which must still differ.
/// The number of cases identical in full, the number with the same
/// lines, and the failures.
pub fn compare(
    stock: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
    known_gaps: &[(&str, &str)],
) -> (usize, usize, Vec<String>) {
    let (mut full, mut lines, mut failures) = (0, 0, Vec::new());
    for (case, s) in stock {
        let o = &ours[case];
        let gap = known_gaps.iter().find(|(c, _)| c == case);
        // fdb/* outputs are compared whole.
        // fdb/* outputs, and pipelines named "...-whole", are compared
        // whole.
        let whole = case.contains("/fdb/")
            || case
                .split('/')
                .next()
                .is_some_and(|p| p.ends_with("-whole"));
        let same_lines = if whole {
            s == o
        } else {
            megaflow_and_actions(s) == megaflow_and_actions(o) && !s.is_empty()
        };
        if s == o {
            full += 1;
        }
        if same_lines {
            lines += 1;
        }
        match (gap, same_lines) {
            (None, false) => failures.push(format!(
                "== {case}: megaflow/actions differ\n-- stock:\n{s}\n-- ferrovs:\n{o}"
            )),
            (Some((_, why)), true) => failures.push(format!(
                "== {case}: listed as a known gap ({why}) but now matches: remove it from KNOWN_GAPS"
            )),
            (Some((_, why)), false) => {
                eprintln!("known gap {case}: {why}");
            }
            (None, true) => {
                if s != o {
                    eprintln!("== {case}: same megaflow and actions, other text differs\n-- stock:\n{s}\n-- ferrovs:\n{o}");
                }
            }
        }
    }
    (full, lines, failures)
}
