//! Real traffic through the userspace datapath: two network namespaces,
//! each with a veth whose host-side peer is a `system` port of a netdev
//! datapath driven through the `Dpif` trait. Flows installed from odp
//! text carry ping and a TCP transfer, with checksum offload left on.
//!
//! Needs root and iproute2; skips with a message otherwise, but fails
//! under CI=true.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::{DeviceMode, NetdevDpif};
use ferrovs_dpif::odp::{self, Key};
use ferrovs_dpif::{Dpif, FlowPut, PortSpec, PutFlags, UpcallKind};

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn must(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether the test can run here; under CI=true a missing prerequisite
/// is a failure, not a skip.
fn prerequisites() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tools = ["ip", "ping", "python3", "ethtool"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let ok = root && tools;
    if !ok {
        let why = if root {
            "ip/ping/python3/ethtool missing"
        } else {
            "not root"
        };
        assert!(!ci, "netdev veth test cannot run under CI: {why}");
        eprintln!("SKIP netdev veth test: {why}");
    }
    ok
}

/// Two namespaces with a veth pair each (plus any extra namespaces);
/// removed on drop.
struct Topo {
    ns: Vec<String>,
    host: Vec<String>,
}

/// A name prefix unique to this process and call.
fn unique(tag: char) -> String {
    format!("fvn{}{tag}", std::process::id() % 100_000)
}

impl Topo {
    fn new(tag: char) -> Topo {
        let p = unique(tag);
        let t = Topo {
            ns: vec![format!("{p}a"), format!("{p}b")],
            host: vec![format!("{p}ha"), format!("{p}hb")],
        };
        for i in 0..2 {
            let (ns, host) = (&t.ns[i], &t.host[i]);
            let inner = format!("{host}i");
            must(&["ip", "netns", "add", ns]);
            must(&[
                "ip", "link", "add", host, "type", "veth", "peer", "name", &inner,
            ]);
            must(&["ip", "link", "set", &inner, "netns", ns]);
            let addr = format!("10.77.0.{}/24", i + 1);
            must(&["ip", "-n", ns, "addr", "add", &addr, "dev", &inner]);
            must(&["ip", "-n", ns, "link", "set", &inner, "up"]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            must(&["ip", "link", "set", host, "up"]);
        }
        t
    }

    fn inner(&self, i: usize) -> String {
        format!("{}i", self.host[i])
    }

    fn exec(&self, i: usize, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns[i]]).args(args);
        c
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        for h in &self.host {
            let _ = run(&["ip", "link", "del", h]);
        }
    }
}

fn put(dp: &mut NetdevDpif, flow: &str, actions: &str) {
    let f = odp::parse_flow(flow, None).unwrap();
    let a = odp::parse_actions(actions, None).unwrap();
    dp.flow_put(&FlowPut {
        flags: PutFlags {
            create: true,
            ..Default::default()
        },
        key: &f.key,
        mask: &f.mask,
        actions: &a,
        ufid: f.ufid,
    })
    .unwrap();
}

const SERVER: &str = r#"
import socket, hashlib
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5201))
s.listen(1)
s.settimeout(60)
c, _ = s.accept()
c.settimeout(60)
h = hashlib.sha256()
n = 0
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    h.update(d)
    n += len(d)
print(n, h.hexdigest())
"#;

const CLIENT: &str = r#"
import socket, hashlib, time
data = bytes((i * 7 + i // 251) % 256 for i in range(1 << 20)) * 24
deadline = time.time() + 10
while True:
    try:
        s = socket.create_connection(("10.77.0.2", 5201), timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
s.settimeout(60)
s.sendall(data)
s.close()
print(len(data), hashlib.sha256(data).hexdigest())
"#;

/// Sends 24 MiB over TCP from namespace `from` to a server in `to`
/// listening at `addr`; asserts that every byte arrived intact.
fn tcp_transfer(from: &str, to: &str, addr: &str) {
    tcp_transfer_mib(from, to, addr, 24);
}

/// As [`tcp_transfer`], with `mib` MiB.
fn tcp_transfer_mib(from: &str, to: &str, addr: &str, mib: usize) {
    let server = Command::new("ip")
        .args(["netns", "exec", to, "python3", "-c", SERVER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = Command::new("ip")
        .args([
            "netns",
            "exec",
            from,
            "python3",
            "-c",
            &CLIENT
                .replace("10.77.0.2", addr)
                .replace("* 24", &format!("* {mib}")),
        ])
        .output()
        .unwrap();
    let server = server.wait_with_output().unwrap();
    let sent = String::from_utf8_lossy(&client.stdout).trim().to_string();
    let got = String::from_utf8_lossy(&server.stdout).trim().to_string();
    assert!(
        client.status.success(),
        "client: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(
        server.status.success(),
        "server: {}",
        String::from_utf8_lossy(&server.stderr)
    );
    assert_eq!(sent, got, "TCP transfer corrupted or short");
    assert!(sent.starts_with(&format!("{} ", mib << 20)), "{sent}");
}

#[test]
fn ping_and_tcp_between_namespaces() {
    if !prerequisites() {
        return;
    }
    let topo = Topo::new('v');
    // TX checksum offload (and with it TSO) stays on in the namespaces.
    let features = must(&[
        "ip",
        "netns",
        "exec",
        &topo.ns[0],
        "ethtool",
        "-k",
        &topo.inner(0),
    ]);
    assert!(
        features.contains("tx-checksumming: on"),
        "expected TX offload on by default: {features}"
    );

    let dp_name = format!("{}dp", unique('v'));
    let mut dp = NetdevDpif::create(&dp_name, DeviceMode::Real).unwrap();
    let upcalls = dp.upcall_receiver().unwrap();
    // The local port is a tap device named after the datapath.
    let local = dp.port_device(0).unwrap();
    assert_eq!(local.name(), dp_name);
    assert!(must(&["ip", "link", "show", &dp_name]).contains(&dp_name));
    assert!(local.mtu().unwrap() > 0);
    // What vswitchd does to a bridge's local port: MTU, MAC, admin state.
    local.set_mtu(1400).unwrap();
    local.set_mac([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]).unwrap();
    local.set_admin_up(true).unwrap();
    let link = must(&["ip", "link", "show", &dp_name]);
    assert!(link.contains("mtu 1400"), "{link}");
    assert!(link.contains("link/ether 02:aa:bb:cc:dd:ee"), "{link}");
    assert!(link.contains("<BROADCAST,MULTICAST,UP"), "{link}");
    assert_eq!(local.mtu().unwrap(), 1400);
    assert_eq!(local.mac().unwrap(), [2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);

    let mut ports = Vec::new();
    for h in &topo.host {
        ports.push(
            dp.port_add(&PortSpec {
                name: h.clone(),
                port_type: "system".into(),
                ..Default::default()
            })
            .unwrap(),
        );
    }
    assert_eq!(ports, vec![1, 2]);
    let a_mac = dp.port_device(1).unwrap().mac().unwrap();
    assert_ne!(a_mac, [0; 6]);

    // No flows yet: ns A's ARP request for B comes up as a MISS with the
    // right key.
    let _ = topo
        .exec(0, &["ping", "-c", "1", "-W", "1", "10.77.0.2"])
        .output();
    let t = Instant::now();
    let mut seen = None;
    while t.elapsed() < Duration::from_secs(5) {
        let Some(u) = upcalls.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let k = Key::from_nlattrs(&u.key).unwrap().to_text();
        if u.kind == UpcallKind::Miss && k.contains("eth_type(0x0806)") {
            seen = Some((k, u.packet));
            break;
        }
    }
    let (k, pkt) = seen.expect("no ARP miss upcall");
    assert!(k.contains("in_port(1)"), "{k}");
    assert!(k.contains("arp(sip=10.77.0.1,tip=10.77.0.2,op=1"), "{k}");
    assert_eq!(&pkt[..6], &[0xff; 6]);

    put(&mut dp, "in_port(1)", "2");
    put(&mut dp, "in_port(2)", "1");

    let ping = topo
        .exec(0, &["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping failed: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    tcp_transfer(&topo.ns[0], &topo.ns[1], "10.77.0.2");

    // A link flap on a port: forwarding resumes by itself.
    must(&["ip", "link", "set", &topo.host[1], "down"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!dp.port_device(2).unwrap().is_up());
    must(&["ip", "link", "set", &topo.host[1], "up"]);
    let t = Instant::now();
    let mut back = false;
    while !back && t.elapsed() < Duration::from_secs(10) {
        back = topo
            .exec(0, &["ping", "-c", "1", "-W", "1", "10.77.0.2"])
            .output()
            .unwrap()
            .status
            .success();
    }
    assert!(back, "no forwarding after the link came back");

    let flows = dp.flow_dump().unwrap();
    assert_eq!(flows.len(), 2);
    for f in &flows {
        assert!(f.stats.n_packets >= 3, "{:?}", f.stats);
        assert!(f.stats.n_bytes > 0);
    }
    let total: u64 = flows.iter().map(|f| f.stats.n_bytes).sum();
    assert!(total >= 25_165_824, "flow bytes {total}");
    // The terse dump names the same flows with the same counters (read
    // a moment later: at least as many).
    let terse = dp.flow_dump_stats().unwrap();
    assert_eq!(terse.len(), flows.len());
    for f in &flows {
        let (_, s) = terse
            .iter()
            .find(|(u, _)| Some(*u) == f.ufid)
            .unwrap_or_else(|| panic!("{:?} not in the terse dump", f.ufid));
        assert!(s.n_packets >= f.stats.n_packets && s.n_bytes >= f.stats.n_bytes);
    }
    let st = dp.stats().unwrap();
    assert!(st.n_hit > 0 && st.n_missed > 0, "{st:?}");
    let ds = dp.port_stats(1).unwrap();
    assert!(ds.rx_packets > 0 && ds.tx_packets > 0, "{ds:?}");
    eprintln!(
        "netdev veth: {} flows, dp {:?}, port1 {:?}, drops {:?}",
        flows.len(),
        st,
        ds,
        dp.drop_stats()
    );

    // Rewriting headers of offloaded traffic: from A, IPv4 gets its TTL
    // set to 33 (partial checksums and super-frames must be finished in
    // software first), ARP goes through unchanged.
    dp.flow_flush().unwrap();
    put(&mut dp, "in_port(1),eth_type(0x0806)", "2");
    put(
        &mut dp,
        "in_port(1),eth_type(0x0800)",
        "set(ipv4(ttl=33)),2",
    );
    put(&mut dp, "in_port(2)", "1");
    let ping = topo
        .exec(1, &["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.1"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success(), "ping after set failed: {out}");
    assert!(
        out.contains("ttl=33"),
        "replies from A should carry ttl=33: {out}"
    );
    tcp_transfer(&topo.ns[0], &topo.ns[1], "10.77.0.2");
    dp.destroy().unwrap();
}

/// A VLAN trunk between two datapaths: A's frames get tag 10 pushed on
/// datapath 1, cross a veth trunk tagged (the receiving kernel hands the
/// tag over as metadata, the datapath puts it back), and datapath 2 pops
/// it towards B; the same the other way. Ping and TCP (offload on: the
/// tags go onto and off TCP super-frames) work both ways. Needs no VLAN
/// driver in the kernel.
#[test]
fn vlan_trunk_between_two_datapaths() {
    if !prerequisites() {
        return;
    }
    let mut topo = Topo::new('t');
    let p = unique('t');
    let (t1, t2) = (format!("{p}t1"), format!("{p}t2"));
    must(&[
        "ip", "link", "add", &t1, "type", "veth", "peer", "name", &t2,
    ]);
    topo.host.push(t1.clone());
    must(&["ip", "link", "set", &t1, "up"]);
    must(&["ip", "link", "set", &t2, "up"]);
    let mut dps = Vec::new();
    for (i, (host, trunk)) in [(&topo.host[0], &t1), (&topo.host[1], &t2)]
        .into_iter()
        .enumerate()
    {
        let mut dp = NetdevDpif::create(&format!("{p}d{i}"), DeviceMode::Real).unwrap();
        for name in [host.as_str(), trunk.as_str()] {
            dp.port_add(&PortSpec {
                name: name.into(),
                port_type: "system".into(),
                ..Default::default()
            })
            .unwrap();
        }
        put(&mut dp, "in_port(1)", "push_vlan(vid=10,pcp=0),2");
        for ty in ["0x0800", "0x0806"] {
            put(
                &mut dp,
                &format!("in_port(2),eth_type(0x8100),vlan(vid=10,pcp=0),encap(eth_type({ty}))"),
                "pop_vlan,1",
            );
        }
        dps.push(dp);
    }
    let ping = topo
        .exec(0, &["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.2"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping over the trunk failed: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    tcp_transfer_mib(&topo.ns[0], &topo.ns[1], "10.77.0.2", 8);
    tcp_transfer_mib(&topo.ns[1], &topo.ns[0], "10.77.0.1", 8);
    for dp in dps.iter_mut() {
        let flows = dp.flow_dump().unwrap();
        let tagged_ip = flows
            .iter()
            .find(|f| {
                let mut t = String::new();
                ferrovs_dpif::odp::format_flow(&f.key, &f.mask, &Default::default(), &mut t)
                    .unwrap();
                t.contains("eth_type(0x0800)")
            })
            .unwrap();
        assert!(
            tagged_ip.stats.n_packets > 0,
            "tagged IPv4 arrived on the trunk"
        );
    }
}

const RAW_SENDER: &str = r#"
import socket, struct, sys
ifname, dst_mac, payload = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3].encode()
src_mac = bytes.fromhex(open(f"/sys/class/net/{ifname}/address").read().strip().replace(":", ""))
udp = struct.pack("!HHHH", 4000, 5300, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2]))
s = sum(struct.unpack("!10H", ip))
while s >> 16:
    s = (s & 0xffff) + (s >> 16)
ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
frame = dst_mac + src_mac + struct.pack("!HHH", 0x8100, 10, 0x0800) + ip + udp
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((ifname, 0))
for _ in range(5):
    sock.send(frame)
"#;

const UDP_RECEIVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", 5300))
s.settimeout(10)
print(s.recv(2048).decode())
"#;

/// A VLAN-tagged frame sent raw in namespace A reaches the datapath with
/// its tag as kernel metadata (veth moves it there); the datapath puts it
/// back, matches vlan(vid=10) and pops it towards B, where a UDP socket
/// gets the payload.
#[test]
fn vlan_tag_from_kernel_metadata() {
    if !prerequisites() {
        return;
    }
    let topo = Topo::new('r');
    let dp_name = format!("{}dp", unique('r'));
    let mut dp = NetdevDpif::create(&dp_name, DeviceMode::Real).unwrap();
    for h in topo.host.clone() {
        dp.port_add(&PortSpec {
            name: h,
            port_type: "system".into(),
            ..Default::default()
        })
        .unwrap();
    }
    put(
        &mut dp,
        "in_port(1),eth_type(0x8100),vlan(vid=10,pcp=0),encap(eth_type(0x0800),ipv4(proto=17))",
        "pop_vlan,2",
    );
    let b_mac = must(&[
        "ip",
        "netns",
        "exec",
        &topo.ns[1],
        "cat",
        &format!("/sys/class/net/{}/address", topo.inner(1)),
    ]);
    let receiver = topo
        .exec(1, &["python3", "-c", UDP_RECEIVER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let inner = topo.inner(0);
    let sender = topo
        .exec(
            0,
            &[
                "python3",
                "-c",
                RAW_SENDER,
                &inner,
                b_mac.trim(),
                "tagged-hello",
            ],
        )
        .output()
        .unwrap();
    assert!(
        sender.status.success(),
        "raw sender: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let got = receiver.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "tagged-hello",
        "receiver: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    let flows = dp.flow_dump().unwrap();
    assert!(flows[0].stats.n_packets >= 1, "{:?}", flows[0].stats);
}

/// Connection tracking on real traffic: A reaches B through source NAT
/// (B sees A as 10.77.0.100) and a stateful rule that lets only replies
/// back in; ping and a TCP transfer work, and B cannot open a connection
/// to A.
#[test]
fn conntrack_nat_firewall() {
    if !prerequisites() {
        return;
    }
    let topo = Topo::new('c');
    let dp_name = format!("{}dp", unique('c'));
    let mut dp = NetdevDpif::create(&dp_name, DeviceMode::Real).unwrap();
    for h in topo.host.clone() {
        dp.port_add(&PortSpec {
            name: h,
            port_type: "system".into(),
            ..Default::default()
        })
        .unwrap();
    }
    // B reaches the NAT address through A's MAC.
    let a_mac = must(&[
        "ip",
        "netns",
        "exec",
        &topo.ns[0],
        "cat",
        &format!("/sys/class/net/{}/address", topo.inner(0)),
    ]);
    must(&[
        "ip",
        "-n",
        &topo.ns[1],
        "neigh",
        "add",
        "10.77.0.100",
        "lladdr",
        a_mac.trim(),
        "dev",
        &topo.inner(1),
    ]);
    put(&mut dp, "in_port(1),eth_type(0x0806)", "2");
    put(&mut dp, "in_port(2),eth_type(0x0806)", "1");
    put(
        &mut dp,
        "recirc_id(0),in_port(1),eth_type(0x0800)",
        "ct(commit,zone=7,nat(src=10.77.0.100)),2",
    );
    put(
        &mut dp,
        "recirc_id(0),in_port(2),eth_type(0x0800)",
        "ct(zone=7,nat),recirc(0x9)",
    );
    put(
        &mut dp,
        "recirc_id(0x9),in_port(2),ct_state(+est+trk),eth_type(0x0800)",
        "1",
    );
    put(
        &mut dp,
        "recirc_id(0x9),in_port(2),ct_state(-est+trk),eth_type(0x0800)",
        "drop",
    );

    let ping = topo
        .exec(0, &["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.2"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping through NAT failed: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    tcp_transfer(&topo.ns[0], &topo.ns[1], "10.77.0.2");
    // B cannot open a connection towards A (nor its NAT address).
    let ping_back = topo
        .exec(1, &["ping", "-c", "1", "-W", "1", "10.77.0.100"])
        .output()
        .unwrap();
    assert!(
        !ping_back.status.success(),
        "B must not reach A unsolicited"
    );
    let conns = dp.conntrack().dump();
    assert!(
        conns.iter().any(|c| c.orig.proto == 6 && c.nat == 0x40),
        "the TCP connection is tracked with SNAT: {conns:?}"
    );
}

/// The outer header text of a `tnl_push` from `src` to `dst` (last
/// octets of 192.0.2.x) over MACs `smac` -> `dmac`.
fn tnl_header(kind: &str, smac: &str, dmac: &str, src: u8, dst: u8) -> String {
    let eth = format!("eth(dst={dmac},src={smac},dl_type=0x0800)");
    let ip = |proto: u8| {
        format!("ipv4(src=192.0.2.{src},dst=192.0.2.{dst},proto={proto},tos=0,ttl=64,frag=0x4000)")
    };
    match kind {
        "vxlan" => format!(
            "header(size=50,type=4,{eth},{},udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x64))",
            ip(17)
        ),
        "geneve" => format!(
            "header(size=50,type=5,{eth},{},udp(src=0,dst=6081,csum=0xffff),geneve(vni=0x64))",
            ip(17)
        ),
        _ => format!(
            "header(size=42,type=3,{eth},{},gre((flags=0x2000,proto=0x6558),key=0x64))",
            ip(47)
        ),
    }
}

/// Tunnels between two datapaths over a veth underlay: namespace A hangs
/// off datapath 1, B off datapath 2; VXLAN, then Geneve, then GRE carry
/// ping and TCP (offload on) both ways, encapsulated by tnl_push and
/// decapsulated by tnl_pop, matched on the tunnel key.
#[test]
fn tunnels_between_two_datapaths() {
    if !prerequisites() {
        return;
    }
    let mut topo = Topo::new('u');
    let p = unique('u');
    let (u1, u2) = (format!("{p}u1"), format!("{p}u2"));
    must(&[
        "ip", "link", "add", &u1, "mtu", "9000", "type", "veth", "peer", "name", &u2, "mtu", "9000",
    ]);
    topo.host.push(u1.clone());
    must(&["ip", "link", "set", &u1, "up"]);
    must(&["ip", "link", "set", &u2, "up"]);
    let mac = |i: &str| {
        must(&["cat", &format!("/sys/class/net/{i}/address")])
            .trim()
            .to_string()
    };
    let (m1, m2) = (mac(&u1), mac(&u2));

    let mut dps = Vec::new();
    for (i, (host, under)) in [(&topo.host[0], &u1), (&topo.host[1], &u2)]
        .into_iter()
        .enumerate()
    {
        let mut dp = NetdevDpif::create(&format!("{p}d{i}"), DeviceMode::Real).unwrap();
        for (name, ty) in [
            (host.as_str(), "system"),
            (under.as_str(), "system"),
            ("vxlan_sys_4789", "vxlan"),
            ("genev_sys_6081", "geneve"),
            ("gre_sys", "gre"),
        ] {
            dp.port_add(&PortSpec {
                name: name.into(),
                port_type: ty.into(),
                ..Default::default()
            })
            .unwrap();
        }
        dps.push(dp);
    }
    for (kind, tport, udp) in [
        ("vxlan", 3, Some(4789)),
        ("geneve", 4, Some(6081)),
        ("gre", 5, None),
    ] {
        for (i, dp) in dps.iter_mut().enumerate() {
            let (me, peer) = if i == 0 { (1u8, 2u8) } else { (2, 1) };
            let (smac, dmac) = if i == 0 { (&m1, &m2) } else { (&m2, &m1) };
            dp.flow_flush().unwrap();
            let push = format!(
                "tnl_push(tnl_port({tport}),{},out_port(2))",
                tnl_header(kind, smac, dmac, me, peer)
            );
            put(dp, "in_port(1)", &push);
            let outer = match udp {
                Some(port) => format!(
                    "in_port(2),eth_type(0x0800),ipv4(dst=192.0.2.{me},proto=17),udp(dst={port})"
                ),
                None => format!("in_port(2),eth_type(0x0800),ipv4(dst=192.0.2.{me},proto=47)"),
            };
            put(dp, &outer, &format!("tnl_pop({tport})"));
            put(
                dp,
                &format!(
                    "in_port({tport}),tunnel(tun_id=0x64,src=192.0.2.{peer},dst=192.0.2.{me})"
                ),
                "1",
            );
        }
        let ping = topo
            .exec(0, &["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.2"])
            .output()
            .unwrap();
        assert!(
            ping.status.success(),
            "{kind}: ping failed: {}",
            String::from_utf8_lossy(&ping.stdout)
        );
        tcp_transfer_mib(&topo.ns[0], &topo.ns[1], "10.77.0.2", 4);
        tcp_transfer_mib(&topo.ns[1], &topo.ns[0], "10.77.0.1", 4);
        for dp in dps.iter_mut() {
            let flows = dp.flow_dump().unwrap();
            assert!(
                flows.iter().all(|f| f.stats.n_packets > 0),
                "{kind}: every flow carried traffic"
            );
        }
        eprintln!("{kind}: ping and TCP both ways over the tunnel");
    }
}

/// Jumbo frames pass between namespaces whose links all take them; a
/// frame too big for the egress link is dropped and counted as a
/// transmit error, and forwarding goes on.
#[test]
fn jumbo_and_giant_frames() {
    if !prerequisites() {
        return;
    }
    let topo = Topo::new('j');
    for i in 0..2 {
        must(&["ip", "link", "set", &topo.host[i], "mtu", "9000"]);
        must(&[
            "ip",
            "-n",
            &topo.ns[i],
            "link",
            "set",
            &topo.inner(i),
            "mtu",
            "9000",
        ]);
    }
    let dp_name = format!("{}dp", unique('j'));
    let mut dp = NetdevDpif::create(&dp_name, DeviceMode::Real).unwrap();
    for h in topo.host.clone() {
        dp.port_add(&PortSpec {
            name: h,
            port_type: "system".into(),
            ..Default::default()
        })
        .unwrap();
    }
    put(&mut dp, "in_port(1)", "2");
    put(&mut dp, "in_port(2)", "1");
    let ping = |size: &str| {
        topo.exec(
            0,
            &[
                "ping",
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                size,
                "10.77.0.2",
            ],
        )
        .output()
        .unwrap()
    };
    let ok = ping("8000");
    assert!(
        ok.status.success(),
        "jumbo ping failed: {}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // B's host-side link shrinks to 1500: A's 8000-byte frames cannot go
    // out there any more.
    must(&["ip", "link", "set", &topo.host[1], "mtu", "1500"]);
    let before = dp.port_stats(2).unwrap();
    let bad = ping("8000");
    assert!(!bad.status.success(), "a giant frame must not get through");
    let after = dp.port_stats(2).unwrap();
    assert!(
        after.tx_errors + after.tx_dropped > before.tx_errors + before.tx_dropped,
        "{before:?} -> {after:?}"
    );
    // Normal frames still flow.
    let small = ping("100");
    assert!(small.status.success(), "small ping after giant frames");
    assert_eq!(dp.drop_stats().panics, 0);
}
