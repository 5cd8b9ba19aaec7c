//! OpenFlow packet-outs executed by the datapath, against stock
//! ovs-vswitchd 3.1.
//!
//! `packet_outs_match_stock`: a dummy bridge gets packet-outs through
//! `ovs-ofctl packet-out` (OpenFlow 1.0 and 1.3) from ports, LOCAL,
//! CONTROLLER and NONE, with output, flood, all, rewrites, resubmit into
//! tables, learn, conntrack, NORMAL, groups and a VLAN push. The frames
//! each port sent, the learned flow, the conntrack entry, the MAC table
//! and the datapath's flows (none: a packet-out installs nothing) must be
//! stock's.
//!
//! `a_learning_controller_connects_two_hosts`: a reactive controller (a
//! MAC-learning switch, in this test) drives a userspace-datapath bridge
//! between two network namespaces over `unix:`: every first packet goes
//! up as a packet-in and comes back as a packet-out (the ARP request is
//! flooded that way), so a ping passes only if packet-outs are executed.
//! Stock must pass it too. Needs root and iproute2.

mod netns;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrovs_tests::pcap;
use ferrovs_tests::sandbox::{ours_then_stock, text, Sandbox};
use ferrovs_tests::vsctl;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure protocols=OpenFlow10,OpenFlow13",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 p3 -- set interface p3 type=dummy ofport_request=3",
];

const FLOWS: &str = "table=1,udp,actions=dec_ttl,output:2
table=1,priority=0,actions=output:3
";

/// IPv4/UDP 10.0.0.1 -> 10.0.0.2, 00:..:01 -> 00:..:02, TTL 64.
const UDP: &str = "00000000000200000000000108004500002c00010000401166be0a0000010a00000203e807d00018000068656c6c6f207061636b65742d6f7574";
/// A broadcast ARP request from 00:..:01 (10.0.0.1) for 10.0.0.2.
const ARP: &str =
    "ffffffffffff000000000001080600010800060400010000000000010a0000010000000000000a000002";

/// The packet-outs: OpenFlow version, in_port, packet, actions, and how
/// many frames the ports p1-p3 have sent in all once it is done.
const PACKET_OUTS: &[(&str, &str, &str, &str, usize)] = &[
    ("OpenFlow10", "1", UDP, "output:2", 1),
    (
        "OpenFlow10",
        "1",
        UDP,
        "mod_dl_src:00:00:00:00:00:aa,mod_nw_dst:10.0.0.9,output:3",
        2,
    ),
    ("OpenFlow10", "1", ARP, "flood", 4),
    ("OpenFlow10", "controller", UDP, "all", 7),
    ("OpenFlow10", "none", UDP, "output:1", 8),
    ("OpenFlow10", "1", UDP, "resubmit(,1)", 9),
    ("OpenFlow10", "2", ARP, "resubmit(,1)", 10),
    (
        "OpenFlow10",
        "2",
        UDP,
        "learn(table=2,priority=5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:3",
        11,
    ),
    ("OpenFlow10", "1", UDP, "ct(commit,zone=7),output:2", 12),
    ("OpenFlow10", "local", ARP, "normal", 15),
    ("OpenFlow13", "3", UDP, "group:1", 17),
    (
        "OpenFlow13",
        "1",
        UDP,
        "push_vlan:0x8100,set_field:4101->vlan_vid,output:2",
        18,
    ),
];

fn frames_sent(sb: &Sandbox) -> usize {
    (1..=3)
        .map(|p| pcap::frame_count(&sb.dir.join(format!("p{p}.pcap"))))
        .sum()
}

fn script(program: &Path, tag: &str) -> String {
    let sb = Sandbox::with_vswitchd(&format!("packet-out-{tag}"), program, DUMMY_ARGS);
    for line in SETUP {
        let args: Vec<&str> = line.split(' ').collect();
        sb.vsctl_ok(&args, line);
    }
    for p in 1..=3 {
        let opt = format!("options:tx_pcap=p{p}.pcap");
        sb.vsctl_ok(&["set", "interface", &format!("p{p}"), &opt], "tx_pcap");
    }
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p3 3/"),
        "ports in the datapath",
    )
    .expect("ports");
    sb.add_flows("br0", "OpenFlow10", FLOWS);
    sb.succeeded(
        sb.run(
            "ovs-ofctl",
            &[
                "-O",
                "OpenFlow13",
                "add-group",
                "br0",
                "group_id=1,type=all,bucket=output:1,bucket=output:2",
            ],
        ),
        "add-group",
    );
    for (version, in_port, packet, actions, total) in PACKET_OUTS {
        let spec = format!("in_port={in_port} packet={packet} actions={actions}");
        sb.succeeded(
            sb.run("ovs-ofctl", &["-O", version, "packet-out", "br0", &spec]),
            &spec,
        );
        // One at a time, so that each port's frames come in a fixed order.
        sb.wait_for(
            || frames_sent(&sb) >= *total,
            &format!("the frames of {spec}"),
        )
        .unwrap_or_else(|e| panic!("{tag}: {e}; log:\n{}", sb.vswitchd_log()));
    }
    let mut report = String::new();
    for p in 1..=3 {
        let frames = pcap::frames_hex(&sb.dir.join(format!("p{p}.pcap")));
        report.push_str(&format!("p{p}:\n{frames}\n"));
    }
    let learned = sb.run("ovs-ofctl", &["--no-stats", "dump-flows", "br0", "table=2"]);
    report.push_str(&format!("learned:\n{}\n", text(&learned.stdout)));
    let ct = sb.appctl(&["dpctl/dump-conntrack", "zone=7"]);
    report.push_str(&format!("conntrack:\n{}\n", text(&ct.stdout)));
    // The MAC table without the ages.
    let fdb: Vec<String> = text(&sb.appctl(&["fdb/show", "br0"]).stdout)
        .lines()
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(head, _)| head)
                .trim_end()
                .to_string()
        })
        .collect();
    report.push_str(&format!("fdb:\n{}\n", fdb.join("\n")));
    let flows = sb.appctl(&["dpctl/dump-flows"]);
    report.push_str(&format!("datapath flows:\n{}", text(&flows.stdout)));
    report
}

#[test]
fn packet_outs_match_stock() {
    let Some((ours, stock)) = ours_then_stock("packet_outs_match_stock", FERROVS, script) else {
        return;
    };
    // What stock does, so that agreeing with it means something: the
    // first frame out of p2, the learned flow, the connection.
    assert!(
        stock.contains("p2:\n") && stock.contains(&UDP[..40]),
        "stock:\n{stock}"
    );
    assert!(
        stock.contains("dl_dst=00:00:00:00:00:01"),
        "stock:\n{stock}"
    );
    assert!(stock.contains("zone=7"), "stock:\n{stock}");
    assert_eq!(ours, stock, "ferrovs (left) and stock (right) differ");
}

/// A MAC-learning controller (OpenFlow 1.0): a packet-in's source is
/// learned on its port; a known destination gets a flow and the packet
/// sent there, an unknown one is flooded. Counts the packet-outs sent.
struct Learner {
    s: UnixStream,
    macs: HashMap<[u8; 6], u16>,
    packet_outs: Arc<AtomicU32>,
}

impl Learner {
    fn send(&mut self, ty: u8, xid: u32, body: &[u8]) {
        let mut m = vec![1, ty];
        m.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        m.extend_from_slice(&xid.to_be_bytes());
        m.extend_from_slice(body);
        let _ = self.s.write_all(&m);
    }

    fn recv(&mut self) -> Option<(u8, u32, Vec<u8>)> {
        let mut h = [0u8; 8];
        self.s.read_exact(&mut h).ok()?;
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let mut body = vec![0; len.saturating_sub(8)];
        self.s.read_exact(&mut body).ok()?;
        Some((h[1], u32::from_be_bytes([h[4], h[5], h[6], h[7]]), body))
    }

    fn packet_out(&mut self, in_port: u16, out_port: u16, frame: &[u8]) {
        let mut b = u32::MAX.to_be_bytes().to_vec();
        b.extend_from_slice(&in_port.to_be_bytes());
        b.extend_from_slice(&8u16.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 8]);
        b.extend_from_slice(&out_port.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(frame);
        self.send(13, 0, &b);
        self.packet_outs.fetch_add(1, Ordering::Relaxed);
    }

    /// A flow: packets to `dst` go out of `port`.
    fn flow_to(&mut self, dst: [u8; 6], port: u16) {
        // Every field wildcarded but dl_dst (OFPFW_ALL without bit 3).
        let mut b = (0x003f_ffffu32 & !(1 << 3)).to_be_bytes().to_vec();
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&dst);
        b.extend_from_slice(&[0; 22]);
        b.extend_from_slice(&[0; 8]); // cookie
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // add, no timeouts
        b.extend_from_slice(&100u16.to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        b.extend_from_slice(&0xffffu16.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&[0, 0, 0, 8]);
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        self.send(14, 0, &b);
    }

    /// Answers the switch until the connection is shut down; `ready` is
    /// told once the switch has answered a barrier, when its misses are
    /// the controller's (a miss before that gets a drop flow).
    fn run(mut self, ready: std::sync::mpsc::Sender<()>) {
        self.send(0, 1, &[]);
        self.send(18, 2, &[]);
        while let Some((ty, xid, body)) = self.recv() {
            match ty {
                // Echo request.
                2 => self.send(3, xid, &body),
                // Barrier reply.
                19 => {
                    let _ = ready.send(());
                }
                // Packet-in: buffer id, total length, in_port, reason,
                // pad, frame.
                10 if body.len() >= 10 + 14 => {
                    let in_port = u16::from_be_bytes([body[6], body[7]]);
                    let frame = body[10..].to_vec();
                    let mut dst = [0; 6];
                    let mut src = [0; 6];
                    dst.copy_from_slice(&frame[..6]);
                    src.copy_from_slice(&frame[6..12]);
                    self.macs.insert(src, in_port);
                    match self.macs.get(&dst).copied() {
                        Some(port) if port != in_port => {
                            self.flow_to(dst, port);
                            self.packet_out(in_port, port, &frame);
                        }
                        Some(_) => {}
                        // OFPP_FLOOD.
                        None => self.packet_out(in_port, 0xfffb, &frame),
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether a ping crossed the bridge, and how many packet-outs the
/// controller sent.
fn reactive_script(program: &Path, tag: &str) -> (bool, u32) {
    let topo = netns::Topo::isolated('r');
    let sb = topo.sandbox(&format!("po-react-{tag}"), program, &["--disable-system"]);
    let sock = sb.dir.join("controller.sock");
    let listener = UnixListener::bind(&sock).expect("controller socket");
    for cmd in [
        vsctl::add_br("br0", "netdev", &["fail-mode=secure"]),
        vsctl::add_port("br0", &topo.host[0], &["ofport_request=1"]),
        vsctl::add_port("br0", &topo.host[1], &["ofport_request=2"]),
    ] {
        sb.vsctl_ok(&cmd, &cmd.join(" "));
    }
    sb.vsctl_ok(
        &["set-controller", "br0", &format!("unix:{}", sock.display())],
        "set-controller",
    );
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(30);
    let s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!(
                "{tag}: the switch did not connect: {e}; log:\n{}",
                sb.vswitchd_log()
            ),
        }
    };
    s.set_nonblocking(false).expect("blocking");
    // Blocking reads (a timeout in the middle of a message would lose its
    // start); shutting the connection down ends the controller.
    let connection = s.try_clone().expect("clone the connection");
    let packet_outs = Arc::new(AtomicU32::new(0));
    let learner = Learner {
        s,
        macs: HashMap::new(),
        packet_outs: Arc::clone(&packet_outs),
    };
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || learner.run(ready_tx));
    ready
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{tag}: no barrier reply: {e}; log:\n{}", sb.vswitchd_log()));
    // The first pings may go before the switch treats misses as the
    // controller's, and ARP gives up on a neighbour after three tries:
    // tries are repeated.
    let mut ping = netns::run(&["true"]);
    for _ in 0..5 {
        ping = netns::run(&[
            "ip",
            "netns",
            "exec",
            &topo.ns[0],
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            "10.79.0.2",
        ]);
        if ping.status.success() {
            break;
        }
    }
    let _ = connection.shutdown(std::net::Shutdown::Both);
    let _ = thread.join();
    if !ping.status.success() {
        eprintln!(
            "{tag}: ping failed:\n{}\nlog:\n{}",
            text(&ping.stdout),
            sb.vswitchd_log()
        );
    }
    (ping.status.success(), packet_outs.load(Ordering::Relaxed))
}

#[test]
fn a_learning_controller_connects_two_hosts() {
    if !netns::netns_available("a_learning_controller_connects_two_hosts") {
        return;
    }
    let Some((ours, stock)) = ours_then_stock(
        "a_learning_controller_connects_two_hosts",
        FERROVS,
        reactive_script,
    ) else {
        return;
    };
    assert!(stock.0, "stock: no ping through the controller");
    assert!(stock.1 > 0, "stock: no packet-out sent");
    assert!(
        ours.0,
        "ferrovs: no ping through the controller ({} packet-outs sent)",
        ours.1
    );
}
