//! The daemon over the userspace datapath, driven only by stock tools.
//!
//! - `dpctl_over_veths_same_as_stock`: the same ovs-vsctl + ovs-appctl
//!   script against stock ovs-vswitchd and ferrovs-vswitchd, each with a
//!   `datapath_type=netdev` bridge whose ports are veths with their peers
//!   in network namespaces; `dpif/show`, `dpctl/show`, the replies to a
//!   corpus of `dpctl/*-flow` commands and `dpctl/dump-flows` (used times
//!   masked, flow lines sorted) must be identical.
//! - `ping_through_dpctl_flows`: on a fail_mode=secure bridge (no
//!   OpenFlow flows), flows added with `dpctl/add-flow` carry
//!   ping between two namespaces; `dump-flows` counts the packets;
//!   `del-flows` stops the traffic.
//! - `dummy_receive_counts_like_stock`: under --enable-dummy,
//!   `netdev-dummy/receive` of packets matching a dpctl flow counts them
//!   exactly as stock does.
//!
//! The veth tests need root and iproute2: they skip with a message
//! otherwise, and fail under CI=true. Each runs its daemons in a network
//! namespace of its own (the userspace datapath's own tap device is
//! always called `ovs-netdev`), so they run at the same time.

mod netns;

use std::path::Path;
use std::time::{Duration, Instant};

use ferrovs_tests::sandbox::{normalize_list, stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};
use ferrovs_tests::{pcap, vsctl};
use netns::{netns_available, normalize_flows, ours_and_stock_isolated, run, LinksGone, Topo};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

/// Stock's revalidators rewrite or delete datapath flows that no
/// OpenFlow rule produced (those dpctl adds): pause them, once the
/// datapath exists (they come with it), so that both daemons keep the
/// flows (ferrovs's too).
fn pause_revalidators(sb: &Sandbox) {
    // ferrovs flushes its datapath after port changes (flooding
    // changes): let that happen before the test adds flows.
    let _ = sb.appctl(&["revalidator/wait"]);
    let _ = sb.appctl(&["revalidator/pause"]);
}

/// `$ ovs-appctl ARGS`, its exit code and output, for a transcript.
fn appctl_entry(sb: &Sandbox, args: &[&str]) -> String {
    let o = sb.appctl(args);
    format!(
        "$ ovs-appctl {}\nrc={:?}\n{}{}",
        args.join(" "),
        o.status.code(),
        normalize_flows(&text(&o.stdout)),
        text(&o.stderr)
    )
}

/// Flows stock's userspace datapath accepts (complete keys), then ones it
/// refuses.
const CORPUS: &[(&str, &str, &str)] = &[
    ("add-flow", "in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)", "3"),
    ("add-flow", "in_port(3),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0806),arp(sip=10.0.0.2,tip=10.0.0.1,op=1,sha=00:00:00:00:00:02,tha=00:00:00:00:00:00)", "2"),
    ("add-flow", "ufid:11111111-2222-3333-4444-555555555555,in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x86dd),ipv6(src=::1,dst=::2,label=0,proto=17,tclass=0,hlimit=64,frag=no),udp(src=1,dst=2)", "push_vlan(vid=5,pcp=0),3"),
    ("add-flow", "in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:03),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.3,proto=6,tos=0,ttl=64,frag=no),tcp(src=1000,dst=80)", "set(ipv4(ttl=9)),3"),
    ("add-flow", "in_port(3),eth(src=00:00:00:00:00:02/ff:ff:ff:ff:ff:ff,dst=00:00:00:00:00:01/00:00:00:00:00:00),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.1,proto=17,tos=0,ttl=64,frag=no),udp(src=53,dst=53)", "1"),
    // Already there (the same key: the same generated UFID).
    ("add-flow", "in_port(3),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0806),arp(sip=10.0.0.2,tip=10.0.0.1,op=1,sha=00:00:00:00:00:02,tha=00:00:00:00:00:00)", "2"),
    ("add-flow", "garbage", "1"),
    ("add-flow", "in_port(2),eth_type(0x0800)", "bogus"),
    ("add-flow", "ufid:nonsense,in_port(2)", "1"),
    ("mod-flow", "in_port(3),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0806),arp(sip=10.0.0.2,tip=10.0.0.1,op=1,sha=00:00:00:00:00:02,tha=00:00:00:00:00:00)", "2,1"),
];

fn dpctl_script(program: &Path, topo: &Topo, tag: &str) -> String {
    let mut sb = topo.sandbox(&format!("netdev-{tag}"), program, &["--disable-system"]);
    let br = format!("fvb{}", std::process::id() % 100_000);
    let i1 = format!("{br}i");
    // Stock makes its tap devices persistent: make sure they go.
    let _taps = LinksGone(vec![br.clone(), i1.clone()]);
    let mut out = String::new();
    for cmd in [
        vsctl::add_br(&br, "netdev", &[]),
        vsctl::add_port(&br, &topo.host[0], &[]),
        vsctl::add_port(&br, &topo.host[1], &[]),
        vsctl::add_port(&br, &i1, &["type=internal"]),
        vsctl::add_port(&br, "vx1", &["type=vxlan", "options:remote_ip=10.1.1.1"]),
    ] {
        let o = sb.vsctl(&vsctl::words(&cmd));
        out.push_str(&format!(
            "$ ovs-vsctl {}\nrc={:?}\n{}",
            cmd.join(" "),
            o.status.code(),
            text(&o.stderr)
        ));
    }
    // (Stock's revalidators exist once the datapath does.)
    pause_revalidators(&sb);
    let show = text(&sb.appctl(&["dpctl/show"]).stdout);
    assert!(
        show.contains(&format!(": {}\n", topo.host[1])),
        "{tag}: the netdev datapath did not come up (is another userspace \
         datapath holding the tap device ovs-netdev?); dpctl/show:\n{show}\nlog:\n{}",
        sb.vswitchd_log()
    );
    out.push_str(&appctl_entry(&sb, &["dpif/show"]));
    out.push_str(&appctl_entry(&sb, &["dpctl/show"]));
    out.push_str(&appctl_entry(&sb, &["dpctl/dump-dps"]));
    for (cmd, flow, actions) in CORPUS {
        out.push_str(&appctl_entry(
            &sb,
            &[&format!("dpctl/{cmd}"), flow, actions],
        ));
    }
    for args in [
        &["dpctl/dump-flows"][..],
        &["dpctl/dump-flows", "netdev@ovs-netdev"],
        &["dpctl/dump-flows", "-m"],
        &["dpctl/dump-flows", "--names"],
        &["dpctl/dump-flows", "-x"],
        &["dpctl/dump-flows", "filter=in_port=2"],
        &["dpctl/dump-flows", "filter=in_port(3)"],
        &["dpctl/dump-flows", "filter=arp"],
        &["dpctl/dump-flows", "filter=tcp,tp_dst=80"],
        &["dpctl/dump-flows", "filter=ip,nw_src=10.0.0.2"],
        &["dpctl/dump-flows", "filter=dl_src=00:00:00:00:00:02"],
        &["dpctl/dump-flows", "filter=nosuch=1"],
        &["dpctl/dump-flows", "filter=in_port=zz"],
        &["dpctl/dump-flows", "filter=nw_src=1.2.3.4"],
        &["dpctl/dump-flows", "type=xyz"],
        &["dpctl/dump-flows", "a", "b", "c", "d", "e", "f", "g"],
        &["dpctl/dump-dps", "extra"],
        &["dpctl/add-flow", "x"],
        &["dpctl/get-flow", "nosuch"],
        &["dpctl/del-flows", "/nonexistent/flows"],
        &["dpctl/dump-conntrack", "zone=x"],
        &["dpctl/dump-conntrack", "zone=3"],
        &["dpctl/flush-conntrack", "zone=x"],
        &["dpctl/flush-conntrack", "zone=3"],
        &["dpctl/dump-flows", "nosuch@dp"],
        &["dpctl/get-flow", "ufid:11111111-2222-3333-4444-555555555555"],
        &["dpctl/get-flow", "ufid:11111111-2222-3333-4444-000000000000"],
        &["dpctl/mod-flow", "-s", "in_port(3),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0806),arp(sip=10.0.0.2,tip=10.0.0.1,op=1,sha=00:00:00:00:00:02,tha=00:00:00:00:00:00)", "2"],
        &["dpctl/del-flow", "ufid:11111111-2222-3333-4444-555555555555"],
        &["dpctl/del-flow", "-s", "in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"],
        &["dpctl/del-flow", "in_port(9)"],
        &["dpctl/dump-flows"],
        &["dpctl/show", "nosuch"],
        &["dpctl/show", "system@ovs-system"],
        &["dpctl/dump-conntrack"],
        &["dpctl/flush-conntrack"],
        &["dpctl/del-flows"],
        &["dpctl/dump-flows"],
        &["dpctl/show", "netdev@ovs-netdev"],
    ] {
        out.push_str(&appctl_entry(&sb, args));
    }
    // The status written back for the same ports (interface indexes
    // differ: the tap devices are created anew by each daemon).
    let _ = sb.vsctl(&["--timeout=5", "wait-until", "interface", &i1, "ofport!=-1"]);
    for table in ["Interface", "Bridge"] {
        let o = sb.vsctl(&["list", table]);
        out.push_str(&format!(
            "$ ovs-vsctl list {table}\n{}",
            normalize_list(&text(&o.stdout), &["ifindex"])
        ));
    }
    assert!(
        sb.vswitchd_running(),
        "{tag}: daemon died; log:\n{}",
        sb.vswitchd_log()
    );
    // Deleting the bridge closes its devices (stock drops the taps'
    // persistence then); exit --cleanup removes the datapath.
    // (Stock's reconfiguration waits for its revalidators.)
    let _ = sb.appctl(&["revalidator/resume"]);
    let _ = sb.vsctl(&["del-br", &br]);
    let _ = sb.appctl(&["exit", "--cleanup"]);
    let _ = sb.wait_vswitchd_exit(Duration::from_secs(10));
    // Lookup counters depend on stray traffic the kernel may send.
    out.replace(&br, "<br>")
        .lines()
        .map(|l| {
            if l.starts_with("  lookups:") {
                "  lookups: <counters>\n".to_string()
            } else if l.contains(": hit:") && l.contains(" missed:") {
                format!("{}: <counters>\n", l.split(": hit:").next().unwrap_or(""))
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn dpctl_over_veths_same_as_stock() {
    if !netns_available("dpctl_over_veths_same_as_stock")
        || !stock_ovs_available("dpctl_over_veths_same_as_stock")
    {
        return;
    }
    // Each daemon on its own topology, at the same time; stock's datapath
    // tap devices (persistent) go with its namespace.
    let (ours, stock) = ours_and_stock_isolated(Path::new(FERROVS), 'd', 2, |_| {}, dpctl_script);
    if std::env::var_os("FERROVS_SHOW").is_some() {
        eprintln!("{ours}");
    }
    if stock != ours {
        eprintln!("--- stock\n{stock}\n--- ferrovs\n{ours}");
        for (a, b) in stock.lines().zip(ours.lines()) {
            if a != b {
                eprintln!("first difference:\n  stock:   {a}\n  ferrovs: {b}");
                break;
            }
        }
        panic!("ferrovs-vswitchd's dpctl differs from stock's (see above)");
    }
}

/// The packet count of the dumped flow whose text contains `needle`.
fn packets_of(dump: &str, needle: &str) -> Option<u64> {
    let line = dump.lines().find(|l| l.contains(needle))?;
    let p = line.split("packets:").nth(1)?;
    p.split(',').next()?.trim().parse().ok()
}

#[test]
fn ping_through_dpctl_flows() {
    if !netns_available("ping_through_dpctl_flows")
        || !stock_ovs_available("ping_through_dpctl_flows")
    {
        return;
    }
    let topo = Topo::isolated('p');
    let mut sb = topo.sandbox("netdev-ping", Path::new(FERROVS), &["--disable-system"]);
    let br = format!("fvp{}", std::process::id() % 100_000);
    let _taps = LinksGone(vec![br.clone()]);
    // fail_mode=secure: no NORMAL flow, so that only the dpctl flows
    // carry traffic (misses are translated to drop flows).
    for cmd in [
        vsctl::add_br(&br, "netdev", &["fail_mode=secure"]),
        vsctl::add_port(&br, &topo.host[0], &[]),
        vsctl::add_port(&br, &topo.host[1], &[]),
    ] {
        sb.vsctl_ok(&cmd, &cmd.join(" "));
    }
    let show = text(&sb.appctl(&["dpctl/show"]).stdout);
    let port_of = |name: &str| -> String {
        show.lines()
            .find(|l| l.ends_with(&format!(": {name}")))
            .and_then(|l| l.trim().strip_prefix("port "))
            .and_then(|l| l.split(':').next())
            .unwrap_or_else(|| panic!("{name} not in dpctl/show:\n{show}"))
            .to_string()
    };
    let (a, b) = (port_of(&topo.host[0]), port_of(&topo.host[1]));
    // Revalidators would take back the flows dpctl changes.
    pause_revalidators(&sb);
    // Without flows nothing passes (the empty OpenFlow table drops).
    assert!(!topo.ping(0, "10.79.0.2"), "ping passed with no flows");
    // The drop megaflows those misses installed (and may still install:
    // ARP retries) would clash with ours: modify-or-create.
    for (from, to, eth_type) in [
        (&a, &b, "0x0800"),
        (&b, &a, "0x0800"),
        (&a, &b, "0x0806"),
        (&b, &a, "0x0806"),
    ] {
        let flow = format!("in_port({from}),eth_type({eth_type})");
        let o = sb.appctl(&["dpctl/mod-flow", "--may-create", &flow, to]);
        assert!(o.status.success(), "mod-flow {flow}: {}", text(&o.stderr));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !topo.ping(0, "10.79.0.2") {
        assert!(
            Instant::now() < deadline,
            "ping does not pass through the flows; dump-flows:\n{}",
            text(&sb.appctl(&["dpctl/dump-flows"]).stdout)
        );
    }
    assert!(topo.ping(1, "10.79.0.1"), "ping back failed");
    let dump = text(&sb.appctl(&["dpctl/dump-flows"]).stdout);
    let ip_ab = packets_of(&dump, &format!("in_port({a}),eth_type(0x0800)"));
    let ip_ba = packets_of(&dump, &format!("in_port({b}),eth_type(0x0800)"));
    assert!(
        ip_ab.is_some_and(|n| n >= 2) && ip_ba.is_some_and(|n| n >= 2),
        "flows did not count the pings:\n{dump}"
    );
    let stats = text(&sb.appctl(&["dpctl/show", "-s"]).stdout);
    assert!(stats.contains("RX packets:"), "{stats}");
    // The database learns the counters at the next statistics refresh
    // (every 5 s, as stock).
    let rx_of = |iface: &str| -> u64 {
        let o = sb.vsctl(&["get", "interface", iface, "statistics:rx_packets"]);
        text(&o.stdout).trim().parse().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while rx_of(&topo.host[0]) < 2 || rx_of(&topo.host[1]) < 2 {
        assert!(
            Instant::now() < deadline,
            "Interface statistics did not count the pings: {}",
            text(&sb.vsctl(&["list", "interface", &topo.host[0]]).stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = sb.appctl(&["dpctl/del-flows"]);
    assert!(o.status.success());
    assert_eq!(text(&sb.appctl(&["dpctl/dump-flows"]).stdout), "");
    let _ = run(&["ip", "-n", &topo.ns[0], "neigh", "flush", "all"]);
    assert!(!topo.ping(0, "10.79.0.2"), "ping passed after del-flows");
    assert!(sb.vswitchd_running(), "daemon died:\n{}", sb.vswitchd_log());
    let _ = sb.appctl(&["exit", "--cleanup"]);
    let _ = sb.wait_vswitchd_exit(Duration::from_secs(10));
}

const DUMMY_FLOW: &str = "in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)";
const DUMMY_UDP: &str = "in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1000,dst=2000)";
const DUMMY_TCP: &str = "in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=3000,dst=80)";
/// The same packet in hex (what stock composes from the flow), minus
/// nothing: receive of a hex frame goes through the same flow.
const DUMMY_ARP: &str = "in_port(1),eth(src=50:54:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=50:54:00:00:00:01,tha=00:00:00:00:00:00)";

/// `pmd-stats-show` with the cache levels summed and the averages left
/// out: which cache answers (stock inserts into its exact-match cache
/// with a 1% probability) and how sends are batched are each datapath's
/// own business; the packets counted are not.
fn pmd_stats(sb: &Sandbox, args: &[&str]) -> String {
    let raw = appctl_entry(sb, args);
    let mut hits = 0u64;
    let mut out = String::new();
    for l in raw.lines() {
        let t = l.trim();
        if let Some(n) = t
            .strip_prefix("emc hits: ")
            .or_else(|| t.strip_prefix("megaflow hits: "))
            .or_else(|| t.strip_prefix("smc hits: "))
        {
            hits += n.parse::<u64>().unwrap_or(0);
            if t.starts_with("megaflow") {
                out.push_str(&format!("  cache hits: {hits}\n"));
            }
        } else if !t.starts_with("avg.") || t.starts_with("avg. datapath passes") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn dummy_script(program: &Path, tag: &str) -> String {
    let mut sb = Sandbox::with_vswitchd(
        &format!("dummy-recv-{tag}"),
        program,
        &["--enable-dummy", "--disable-system"],
    );
    for cmd in [
        vsctl::add_br("br0", "dummy", &[]),
        vsctl::add_port("br0", "p1", &["type=dummy"]),
        vsctl::add_port("br0", "p2", &["type=dummy"]),
        vsctl::words_of(&["set", "interface", "p1", "options:rxq_pcap=p1-rx.pcap"]),
        vsctl::words_of(&["set", "interface", "p2", "options:tx_pcap=p2-tx.pcap"]),
    ] {
        sb.vsctl_ok(&cmd, &cmd.join(" "));
    }
    pause_revalidators(&sb);
    let mut out = String::new();
    out.push_str(&appctl_entry(&sb, &["dpctl/add-flow", DUMMY_FLOW, "2"]));
    out.push_str(&appctl_entry(&sb, &["dpctl/add-flow", DUMMY_ARP, "2"]));
    out.push_str(&appctl_entry(
        &sb,
        &["dpctl/add-flow", DUMMY_UDP, "ct(commit,zone=5),2"],
    ));
    out.push_str(&appctl_entry(
        &sb,
        &["dpctl/add-flow", DUMMY_TCP, "ct(commit),2"],
    ));
    for args in [
        &["netdev-dummy/receive", "p1", DUMMY_FLOW][..],
        &["netdev-dummy/receive", "p1", DUMMY_FLOW, DUMMY_FLOW],
        &["netdev-dummy/receive", "p1", DUMMY_ARP, "--len", "100"],
        &["netdev-dummy/receive", "p1", DUMMY_UDP],
        &["netdev-dummy/receive", "p1", DUMMY_TCP],
        &["netdev-dummy/receive", "p1", DUMMY_ARP, "--len", "10"],
        &["netdev-dummy/receive", "nosuch", DUMMY_FLOW],
        &["netdev-dummy/receive", "p1", "--qid", "7", DUMMY_FLOW],
        &["netdev-dummy/set-admin-state", "p9", "up"],
        &["netdev-dummy/set-admin-state", "sideways"],
        &["netdev-dummy/set-admin-state", "p2", "up"],
    ] {
        out.push_str(&appctl_entry(&sb, args));
    }
    // Received packets are processed by another thread: wait for all 4.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dump = text(&sb.appctl(&["dpctl/dump-flows"]).stdout);
        let n = packets_of(&dump, "icmp(").unwrap_or(0)
            + packets_of(&dump, "eth_type(0x0806)").unwrap_or(0)
            + packets_of(&dump, "udp(").unwrap_or(0)
            + packets_of(&dump, "tcp(").unwrap_or(0);
        if n >= 6 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    out.push_str(&appctl_entry(&sb, &["dpctl/dump-flows"]));
    out.push_str(&appctl_entry(&sb, &["dpctl/dump-flows", "-m"]));
    // The devices' counters reach the database at the next statistics
    // refresh (every 5 s).
    let _ = sb.vsctl(&[
        "--timeout=12",
        "wait-until",
        "interface",
        "p2",
        "statistics:tx_packets=6",
    ]);
    for iface in ["p1", "p2"] {
        let o = sb.vsctl(&["get", "interface", iface, "statistics"]);
        out.push_str(&format!("{iface} statistics: {}", text(&o.stdout)));
    }
    for args in [
        &["dpctl/dump-conntrack"][..],
        &["dpctl/dump-conntrack", "zone=5"],
        &["dpctl/flush-conntrack", "zone=5"],
        &["dpctl/dump-conntrack"],
        &["dpctl/flush-conntrack"],
        &["dpctl/dump-conntrack"],
    ] {
        out.push_str(&appctl_entry(&sb, args));
    }
    for f in ["p1-rx.pcap", "p2-tx.pcap"] {
        out.push_str(&format!("{f}: {}\n", pcap::frames_hex(&sb.dir.join(f))));
    }
    out.push_str(&pmd_stats(&sb, &["dpif-netdev/pmd-stats-show"]));
    out.push_str(&pmd_stats(
        &sb,
        &["dpif-netdev/pmd-stats-show", "ovs-dummy"],
    ));
    out.push_str(&pmd_stats(&sb, &["dpif-netdev/pmd-stats-show", "-pmd"]));
    out.push_str(&appctl_entry(&sb, &["dpif-netdev/pmd-stats-clear"]));
    out.push_str(&appctl_entry(&sb, &["dpctl/show"]));
    out.push_str(&appctl_entry(&sb, &["dpif/show"]));
    // Bad input last: packets that match no flow go to stock's OpenFlow
    // side, which would add flows of its own.
    for args in [
        &["netdev-dummy/receive", "p1", "zz"][..],
        &["netdev-dummy/receive", "p1", "0011"],
        &["netdev-dummy/receive", "p1", "in_port(1),eth(src=1:2"],
        &["netdev-dummy/receive", "p1", "in_port(1),bogus(3)"],
        &["netdev-dummy/receive", "p1", "001122334455667788990011aabb"],
        &["netdev-dummy/receive", "p1", ""],
        &["netdev-dummy/ip4addr", "p1", "1.2.3.4/24"],
        &["netdev-dummy/ip4addr", "p1", "1.2.3.4"],
        &["netdev-dummy/ip4addr", "p9", "1.2.3.4/24"],
        &["netdev-dummy/ip4addr", "p1", "x/24"],
        &["netdev-dummy/ip4addr", "p1", "1.2.3.4/40"],
        &["netdev-dummy/ip4addr", "p1", "1.2.3.4/255.255.0.0"],
        &["netdev-dummy/ip4addr", "p1", "1.2.3.4/x"],
        &["netdev-dummy/ip6addr", "p1", "2001:db8::1/64"],
        &["netdev-dummy/ip6addr", "p1", "2001:db8::1"],
        &["netdev-dummy/ip6addr", "p1", "zz/64"],
        &["netdev-dummy/ip6addr", "p9", "2001:db8::1/64"],
        &["netdev-dummy/ip6addr", "p1", "2001:db8::1/200"],
        &["netdev-dummy/conn-state"],
        &["netdev-dummy/conn-state", "p1"],
        &["netdev-dummy/conn-state", "nosuch"],
    ] {
        out.push_str(&appctl_entry(&sb, args));
    }
    assert!(sb.vswitchd_running(), "daemon died:\n{}", sb.vswitchd_log());
    out
}

#[test]
fn dummy_receive_counts_like_stock() {
    if !stock_ovs_available("dummy_receive_counts_like_stock") {
        return;
    }
    let stock = dummy_script(Path::new(STOCK_VSWITCHD), "stock");
    let ours = dummy_script(Path::new(FERROVS), "ferrovs");
    if std::env::var_os("FERROVS_SHOW").is_some() {
        eprintln!("{ours}");
    }
    for (who, out) in [("stock", &stock), ("ferrovs", &ours)] {
        assert!(
            !out.contains("(no file)"),
            "{who} wrote no capture file:\n{out}"
        );
        assert!(
            out.contains("packets:3, bytes:318") && out.contains("packets:1, bytes:100"),
            "{who} did not count the packets:\n{out}"
        );
    }
    if stock != ours {
        eprintln!("--- stock\n{stock}\n--- ferrovs\n{ours}");
        panic!("netdev-dummy/receive counts differ from stock's (see above)");
    }
}
