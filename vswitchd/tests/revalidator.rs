//! MAC learning changes reach exactly the datapath flows they concern.
//!
//! A bridge on the dummy datapath runs its default NORMAL rule with three
//! ports. A frame from A (port p1) to B, whom nobody knows yet, is
//! flooded and its datapath flow floods. Twenty frames from new sources
//! on p2 to A make twenty unrelated flows (forwarded to p1). Then B
//! speaks from p3:
//!
//! - on both ferrovs-vswitchd and stock ovs-vswitchd, once the
//!   revalidators have run (`revalidator/wait`), the flow from A to B no
//!   longer floods: it outputs to p3 alone; when B then speaks from p2,
//!   to p2 alone; after `fdb/flush` it floods again;
//! - on ferrovs, `upcall/show` says that each time B was learned or
//!   moved, the revalidators translated exactly one flow again (the one
//!   to B, fixed in place), and left the twenty unrelated ones alone
//!   (counted as unaffected): learning a new MAC does not re-translate
//!   flows that never looked it up.
//!
//! Needs the stock OVS tools (ovsdb-server, ovs-vsctl, ovs-appctl and
//! ovs-vswitchd): skips with a message otherwise, fails under CI=true.

use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 p3 -- set interface p3 type=dummy ofport_request=3",
];

const A: &str = "50:54:00:00:00:0a";
const B: &str = "50:54:00:00:00:0b";
/// Flows that never look B up.
const UNRELATED: usize = 20;

fn frame(src: &str, dst: &str, udp_src: u16) -> String {
    format!(
        "eth(src={src},dst={dst}),eth_type(0x0800),\
         ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),\
         udp(src={udp_src},dst=9)"
    )
}

/// The revalidators' counters of `upcall/show`: kept, modified,
/// unaffected.
fn revalidated(sb: &Sandbox) -> (u64, u64, u64) {
    let show = text(&sb.appctl(&["upcall/show"]).stdout);
    let count = |name: &str| {
        let at = show
            .find(&format!("({name} "))
            .unwrap_or_else(|| panic!("no {name} counter in upcall/show:\n{show}"));
        let rest = &show[at + name.len() + 2..];
        rest[..rest.find(')').unwrap_or(rest.len())]
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("{name} counter in upcall/show: {e}:\n{show}"))
    };
    (count("kept"), count("modified"), count("unaffected"))
}

/// What one daemon did: the actions of the flow from A to B (datapath
/// ports by name) before B spoke, once B spoke from p3, once B moved to
/// p2 and after `fdb/flush`, and the revalidators' counters before B
/// spoke, after it spoke and after it moved (ferrovs only).
struct Outcome {
    before: Vec<String>,
    learned: Vec<String>,
    moved: Vec<String>,
    flushed: Vec<String>,
    counters: Option<[(u64, u64, u64); 3]>,
}

/// The actions of the datapath flow from A to B, output ports by name.
fn a_to_b_actions(sb: &Sandbox) -> Vec<String> {
    let show = text(&sb.appctl(&["dpctl/show"]).stdout);
    let names: Vec<(String, String)> = show
        .lines()
        .filter_map(|l| l.trim().strip_prefix("port "))
        .filter_map(|l| l.split_once(": "))
        .map(|(n, name)| (n.to_string(), name.split(' ').next().unwrap_or("").into()))
        .collect();
    let flows = text(&sb.appctl(&["dpctl/dump-flows"]).stdout);
    let want = format!("eth(src={A},dst={B})");
    let line = flows
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("no flow from A to B in:\n{flows}"));
    let actions = line.rsplit_once("actions:").map_or("", |(_, a)| a).trim();
    let mut out: Vec<String> = actions
        .split(',')
        .map(|a| {
            names
                .iter()
                .find(|(n, _)| n == a)
                .map_or(a.to_string(), |(_, name)| name.clone())
        })
        .collect();
    out.sort();
    out
}

fn script(program: &Path, tag: &str) -> Outcome {
    let mut sb = Sandbox::with_vswitchd(
        &format!("revalidator-{tag}"),
        program,
        &["--enable-dummy", "--disable-system"],
    );
    for line in SETUP {
        let args: Vec<&str> = line.split(' ').collect();
        sb.vsctl_ok(&args, &format!("{tag}: {line}"));
    }
    let receive = |port: &str, f: String| {
        sb.succeeded(
            sb.appctl(&["netdev-dummy/receive", port, &f]),
            &format!("{tag}: receive on {port}"),
        );
    };
    let wait = || {
        sb.succeeded(
            sb.appctl(&["revalidator/wait"]),
            &format!("{tag}: revalidator/wait"),
        );
    };
    // A speaks first (so that the flows towards A forward), then asks
    // for B.
    receive("p1", frame(A, "ff:ff:ff:ff:ff:ff", 1));
    receive("p1", frame(A, B, 2));
    for i in 0..UNRELATED {
        receive("p2", frame(&format!("50:54:00:00:01:{i:02x}"), A, 3));
    }
    wait();
    let before = a_to_b_actions(&sb);
    let ours = program != Path::new(STOCK_VSWITCHD);
    let first = ours.then(|| revalidated(&sb));
    receive("p3", frame(B, A, 4));
    wait();
    let learned = a_to_b_actions(&sb);
    let second = ours.then(|| revalidated(&sb));
    // B moves to p2.
    receive("p2", frame(B, A, 5));
    wait();
    let moved = a_to_b_actions(&sb);
    let third = ours.then(|| revalidated(&sb));
    // Forgotten: flooded again.
    sb.succeeded(sb.appctl(&["fdb/flush"]), &format!("{tag}: fdb/flush"));
    wait();
    let flushed = a_to_b_actions(&sb);
    sb.exit_alive(tag);
    Outcome {
        before,
        learned,
        moved,
        flushed,
        counters: first.zip(second).zip(third).map(|((a, b), c)| [a, b, c]),
    }
}

#[test]
fn a_learned_mac_fixes_only_the_flows_that_looked_it_up() {
    let test = "a_learned_mac_fixes_only_the_flows_that_looked_it_up";
    if !stock_ovs_available(test) {
        return;
    }
    for (program, tag) in [
        (Path::new(FERROVS), "ferrovs"),
        (Path::new(STOCK_VSWITCHD), "stock"),
    ] {
        let o = script(program, tag);
        assert!(
            o.before.contains(&"p2".to_string()) && o.before.contains(&"p3".to_string()),
            "{tag}: the flow to unknown B floods: {:?}",
            o.before
        );
        assert_eq!(o.learned, vec!["p3"], "{tag}: once B is learned");
        assert_eq!(o.moved, vec!["p2"], "{tag}: once B moved");
        assert_eq!(o.flushed, o.before, "{tag}: after fdb/flush");
        if let Some(c) = o.counters {
            for (step, pair) in ["B learned", "B moved"].iter().zip(c.windows(2)) {
                let [(kept0, mod0, unaff0), (kept1, mod1, unaff1)] = [pair[0], pair[1]];
                assert_eq!(
                    (kept1 - kept0, mod1 - mod0),
                    (0, 1),
                    "{tag}, {step}: only the flow to B is translated again (kept, modified)"
                );
                assert!(
                    unaff1 - unaff0 >= UNRELATED as u64,
                    "{tag}, {step}: the {UNRELATED} unrelated flows are left alone \
                     (unaffected went from {unaff0} to {unaff1})"
                );
            }
        }
    }
}
