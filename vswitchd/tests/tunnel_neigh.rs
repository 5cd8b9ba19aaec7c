//! Tunnel neighbour snooping on the userspace (dummy) datapath, beside
//! stock ovs-vswitchd: the first ARP reply for one of a bridge's
//! addresses misses, its translation teaches the neighbour cache, and its
//! megaflow is stock's. That megaflow then carries the later replies
//! without translation, so after `tnl/neigh/flush` (or an entry aging
//! out) only the flow's packets can teach the entry again. Stock 3.1
//! learns only from packets that miss: its flushed neighbour stays
//! unknown until the ARP flow idles out, and tunnel traffic to it is
//! dropped meanwhile (the 45-patch-tunnel suite lost pings to exactly
//! that). ferrovs's revalidators hand the flow's packets to the cache, as
//! they do for learned MACs.

use std::path::Path;
use std::time::{Duration, Instant};

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

const NEIGH_IP: &str = "1.1.2.92";
const NEIGH_MAC: &str = "f8:bc:12:44:34:b6";

/// An ARP reply from the neighbour to the bridge's address, received on
/// datapath port `port`.
fn arp_reply(port: u32) -> String {
    format!(
        "in_port({port}),eth(src={NEIGH_MAC},dst=aa:55:aa:55:00:00),eth_type(0x0806),\
         arp(sip={NEIGH_IP},tip=1.1.2.88,op=2,sha={NEIGH_MAC},tha=aa:55:aa:55:00:00)"
    )
}

/// `ofproto/trace` of the reply.
fn trace(sb: &Sandbox) -> String {
    let flow = format!(
        "in_port=p0,arp,dl_src={NEIGH_MAC},dl_dst=aa:55:aa:55:00:00,arp_op=2,\
         arp_spa={NEIGH_IP},arp_tpa=1.1.2.88,arp_sha={NEIGH_MAC}"
    );
    let out = sb.appctl(&["ofproto/trace", "br0", &flow]);
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn knows_neighbour(sb: &Sandbox) -> bool {
    text(&sb.appctl(&["tnl/neigh/show"]).stdout)
        .lines()
        .any(|l| l.starts_with(NEIGH_IP) && l.contains(NEIGH_MAC) && l.ends_with("br0"))
}

/// The datapath's ARP flows, without their statistics.
fn arp_flows(sb: &Sandbox) -> Vec<String> {
    text(&sb.appctl(&["dpctl/dump-flows"]).stdout)
        .lines()
        .filter(|l| l.contains("eth_type(0x0806)"))
        .map(|l| l.split(", packets:").next().unwrap_or(l).to_string())
        .collect()
}

/// What one daemon shows: the ARP flow after the first reply (learned
/// from its miss), and whether the neighbour is known again after a
/// flush and one more reply through that flow.
struct Session {
    first_flows: Vec<String>,
    relearned: bool,
}

fn session(name: &str, program: &Path) -> Session {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    // A tunnel port turns native tunnelling (termination and snooping)
    // on; a datapath without one does neither, in stock as here.
    let cmd = "add-br br0 -- set bridge br0 datapath_type=dummy \
               -- add-port br0 p0 -- set interface p0 type=dummy ofport_request=1 \
               -- add-port br0 t1 -- set interface t1 type=vxlan options:remote_ip=1.1.2.92";
    sb.vsctl_line(cmd);
    sb.succeeded(
        sb.appctl(&["netdev-dummy/ip4addr", "br0", "1.1.2.88/24"]),
        "netdev-dummy/ip4addr",
    );
    // The address has reached translation once the trace's megaflow
    // holds what snooping consults.
    sb.wait_for(
        || trace(&sb).contains("arp_sha="),
        "snooping on br0's address",
    )
    .unwrap_or_else(|_| panic!("{name}: no snooping:\n{}", trace(&sb)));
    let p0 = sb.odp_port("p0");
    let receive = || {
        sb.succeeded(
            sb.appctl(&["netdev-dummy/receive", "p0", &arp_reply(p0)]),
            "netdev-dummy/receive",
        );
    };

    // The reply that misses teaches the cache, and its flow is installed.
    receive();
    sb.wait_for(|| knows_neighbour(&sb), "the neighbour learned from a miss")
        .unwrap_or_else(|_| panic!("{name}: not learned; trace:\n{}", trace(&sb)));
    sb.wait_for(
        || arp_flows(&sb).len() == 1,
        "the ARP reply's datapath flow",
    )
    .expect("flow installed");
    let first_flows = arp_flows(&sb);

    // Flushed; the revalidation that follows has no packets to learn from.
    sb.succeeded(sb.appctl(&["tnl/neigh/flush"]), "tnl/neigh/flush");
    sb.succeeded(sb.appctl(&["revalidator/wait"]), "revalidator/wait");
    assert!(!knows_neighbour(&sb), "{name}: flushed");

    // The next reply hits the installed flow (no upcall). A revalidator
    // pass sees its packet; the cache learns right after (given 2 s,
    // well inside the flow's 10 s of idle life).
    receive();
    sb.succeeded(sb.appctl(&["revalidator/wait"]), "revalidator/wait");
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut relearned = knows_neighbour(&sb);
    while !relearned && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        relearned = knows_neighbour(&sb);
    }
    assert_eq!(
        arp_flows(&sb),
        first_flows,
        "{name}: the reply went through the same flow"
    );
    Session {
        first_flows,
        relearned,
    }
}

#[test]
fn a_flushed_neighbour_is_learned_again_from_its_installed_flow() {
    let ours = session("tunnel-neigh-ferrovs", Path::new(FERROVS));
    assert!(
        ours.relearned,
        "not learned again from the installed flow's packets"
    );
    if !stock_ovs_available("a_flushed_neighbour_is_learned_again_from_its_installed_flow") {
        return;
    }
    let stock = session("tunnel-neigh-stock", Path::new(STOCK_VSWITCHD));
    assert_eq!(ours.first_flows, stock.first_flows, "snooping's megaflow");
    // The one deliberate difference (see the module documentation).
    assert!(!stock.relearned, "stock learns from installed flows now?");
}
