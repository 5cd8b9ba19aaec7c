//! The userspace datapath driven through the `Dpif` trait with dummy
//! ports (no root needed): upcalls, flow table operations, actions,
//! statistics, hostile frames.

mod dummy_io;

use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::{DeviceMode, NetdevDpif, UpcallReceiver};
use ferrovs_dpif::odp::{self, FormatOptions, Key, KeyAttr};
use ferrovs_dpif::{Dpif, Execute, FlowId, FlowPut, PortSpec, PutFlags, UpcallKind};
use ferrovs_netdev::packet::Packet;

use dummy_io::sent;
use ferrovs_netdev::{csum, extract};

const MAC1: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC2: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC2);
    f.extend_from_slice(&MAC1);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let tot = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(tot as u16).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let ps = csum::pseudo_v4(
        u32::from_be_bytes(src),
        u32::from_be_bytes(dst),
        17,
        udp.len(),
    );
    let c = !csum::fold(csum::add(ps, &udp));
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

/// Checks the IPv4 header checksum and the UDP/TCP checksum of a frame.
fn checksums_ok(f: &[u8]) -> bool {
    let x = extract(f, &Default::default());
    let (l3, l4) = (x.layers.l3.unwrap(), x.layers.l4.unwrap());
    let ihl = usize::from(f[l3] & 15) * 4;
    if csum::checksum(&f[l3..l3 + ihl]) != 0 {
        return false;
    }
    let tot = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
    let seg = &f[l4..l3 + tot];
    let ps = csum::pseudo_v4(x.key.nw_src, x.key.nw_dst, x.key.nw_proto, seg.len());
    csum::fold(csum::add(ps, seg)) == 0xffff
}

struct Setup {
    dp: NetdevDpif,
    rx: UpcallReceiver,
}

fn setup(name: &str) -> Setup {
    let mut dp = NetdevDpif::create(name, DeviceMode::AllDummy).unwrap();
    let rx = dp.upcall_receiver().unwrap();
    for p in ["p1", "p2", "p3"] {
        dp.port_add(&PortSpec {
            name: p.into(),
            port_type: "system".into(),
            ..Default::default()
        })
        .unwrap();
    }
    Setup { dp, rx }
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

fn inject(dp: &NetdevDpif, port: u32, frame: &[u8]) {
    dp.dummy_device(port)
        .unwrap()
        .inject(Packet::from_bytes(frame));
}

/// Gives the datapath a moment, then checks that `port` sent nothing.
fn nothing_sent(dp: &NetdevDpif, port: u32) -> bool {
    std::thread::sleep(Duration::from_millis(200));
    dp.dummy_device(port).unwrap().take_sent().is_empty()
}

fn key_text(key: &[u8]) -> String {
    Key::from_nlattrs(key).unwrap().to_text()
}

#[test]
fn ports_are_numbered_like_stock() {
    let mut s = setup("dpn0");
    let ports = s.dp.port_dump().unwrap();
    let names: Vec<_> = ports.iter().map(|p| (p.port_no, p.name.as_str())).collect();
    assert_eq!(names, vec![(0, "dpn0"), (1, "p1"), (2, "p2"), (3, "p3")]);
    assert_eq!(s.dp.port_query_by_number(0).unwrap().port_type, "internal");
    s.dp.port_del(2).unwrap();
    let n =
        s.dp.port_add(&PortSpec {
            name: "p4".into(),
            port_type: "system".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(n, 2, "lowest free number is reused");
    assert_eq!(s.dp.port_query_by_name("p4").unwrap().port_no, 2);
    assert!(s.dp.port_del(0).is_err());
    assert_eq!(
        s.dp.port_add(&PortSpec {
            name: "p1".into(),
            ..Default::default()
        })
        .unwrap_err()
        .errno,
        libc::EEXIST
    );
    let _ = s.rx.try_recv();
}

#[test]
fn miss_upcall_carries_key_and_packet() {
    let s = setup("dpn1");
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, b"hello");
    inject(&s.dp, 1, &f);
    let u =
        s.rx.recv_timeout(Duration::from_secs(5))
            .expect("miss upcall");
    assert_eq!(u.kind, UpcallKind::Miss);
    assert_eq!(u.packet, f);
    let k = key_text(&u.key);
    for part in [
        "in_port(1)",
        "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)",
        "eth_type(0x0800)",
        "ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no)",
        "udp(src=1234,dst=80)",
        "recirc_id(0)",
    ] {
        assert!(k.contains(part), "{part} not in {k}");
    }
}

#[test]
fn flows_forward_and_count() {
    let mut s = setup("dpn2");
    put(&mut s.dp, "in_port(1),eth_type(0x0800),ipv4(proto=17)", "2");
    put(&mut s.dp, "in_port(2)", "1,3");
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"x");
    for _ in 0..5 {
        inject(&s.dp, 1, &f);
    }
    let out = sent(&s.dp, 2, 5);
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|p| *p == f));
    inject(&s.dp, 2, &f);
    assert_eq!(sent(&s.dp, 1, 1), vec![f.clone()]);
    assert_eq!(sent(&s.dp, 3, 1), vec![f.clone()]);

    let flows = s.dp.flow_dump().unwrap();
    assert_eq!(flows.len(), 2);
    let mut by_text: Vec<(String, u64, u64)> = flows
        .iter()
        .map(|fl| {
            let mut t = String::new();
            odp::format_flow(&fl.key, &fl.mask, &FormatOptions::default(), &mut t).unwrap();
            (t, fl.stats.n_packets, fl.stats.n_bytes)
        })
        .collect();
    by_text.sort();
    let len = f.len() as u64;
    assert_eq!(by_text[0].1, 5, "{by_text:?}");
    assert_eq!(by_text[0].2, 5 * len);
    assert_eq!(by_text[1].1, 1);
    let st = s.dp.stats().unwrap();
    assert_eq!(st.n_hit, 6);
    assert_eq!(st.n_missed, 0);
    assert_eq!(st.n_flows, 2);
    assert_eq!(st.n_masks, 2);
    // An ICMP packet from port 1 does not match the UDP flow: a miss.
    let mut tcp = f.clone(); // now ICMP
    tcp[23] = 1;
    inject(&s.dp, 1, &tcp);
    let u = s.rx.recv_timeout(Duration::from_secs(5)).expect("miss");
    assert_eq!(u.kind, UpcallKind::Miss);
    assert_eq!(s.dp.stats().unwrap().n_missed, 1);

    // pmd-stats-show adds up to the same story (the counters of the miss
    // may land just after its upcall).
    let t = Instant::now();
    let mut text = s.dp.pmd_stats_show();
    while !text.contains("miss with success upcall: 1") && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
        text = s.dp.pmd_stats_show();
    }
    let sum = |label: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.trim().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(sum("packets received:"), 7, "{text}");
    assert_eq!(sum("emc hits:") + sum("megaflow hits:"), 6, "{text}");
    assert_eq!(sum("miss with success upcall:"), 1, "{text}");
    assert!(text.contains("main thread:"), "{text}");
    assert!(
        text.starts_with("pmd thread numa_id 0 core_id 0:"),
        "{text}"
    );
    s.dp.pmd_stats_clear();
    assert_eq!(
        s.dp.pmd_stats_show()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("packets received:"))
            .map(|v| v.trim().parse::<u64>().unwrap())
            .sum::<u64>(),
        0
    );
}

#[test]
fn flow_get_modify_delete_flush() {
    let mut s = setup("dpn3");
    let fl = odp::parse_flow(
        "ufid:11111111-2222-3333-4444-555555555555,in_port(1),eth_type(0x0806)",
        None,
    )
    .unwrap();
    let a2 = odp::parse_actions("2", None).unwrap();
    let a3 = odp::parse_actions("3", None).unwrap();
    let mut p = FlowPut {
        flags: PutFlags {
            create: true,
            ..Default::default()
        },
        key: &fl.key,
        mask: &fl.mask,
        actions: &a2,
        ufid: fl.ufid,
    };
    assert_eq!(s.dp.flow_put(&p).unwrap(), None);
    assert_eq!(s.dp.flow_put(&p).unwrap_err().errno, libc::EEXIST);
    let ufid = fl.ufid.unwrap();
    let got = s.dp.flow_get(FlowId::Ufid(ufid)).unwrap();
    assert_eq!(got.actions, a2);
    assert_eq!(got.key, fl.key);
    assert_eq!(got.mask, fl.mask);
    // An ARP request from port 1 follows the flow.
    let mut arp = Vec::new();
    arp.extend_from_slice(&[0xff; 6]);
    arp.extend_from_slice(&MAC1);
    arp.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&MAC1);
    arp.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    inject(&s.dp, 1, &arp);
    assert_eq!(sent(&s.dp, 2, 1).len(), 1);
    // Modify: new actions, stats kept and returned.
    p.flags = PutFlags {
        modify: true,
        ..Default::default()
    };
    p.actions = &a3;
    let old = s.dp.flow_put(&p).unwrap().unwrap();
    assert_eq!(old.n_packets, 1);
    inject(&s.dp, 1, &arp);
    assert_eq!(sent(&s.dp, 3, 1).len(), 1);
    assert_eq!(
        s.dp.flow_get(FlowId::Key(&fl.key)).unwrap().stats.n_packets,
        2
    );
    let st = s.dp.flow_del(FlowId::Ufid(ufid)).unwrap();
    assert_eq!(st.n_packets, 2);
    assert_eq!(
        s.dp.flow_get(FlowId::Ufid(ufid)).unwrap_err().errno,
        libc::ENOENT
    );
    // Deleted: the next ARP is a miss (the exact-match cache let go).
    inject(&s.dp, 1, &arp);
    assert!(s.rx.recv_timeout(Duration::from_secs(5)).is_some());
    put(&mut s.dp, "in_port(2)", "1");
    put(&mut s.dp, "in_port(3)", "1");
    assert_eq!(s.dp.flow_dump().unwrap().len(), 2);
    s.dp.flow_flush().unwrap();
    assert!(s.dp.flow_dump().unwrap().is_empty());
    assert_eq!(s.dp.stats().unwrap().n_masks, 0);
}

#[test]
fn set_actions_fix_checksums() {
    let mut s = setup("dpn4");
    put(
        &mut s.dp,
        "in_port(1),eth_type(0x0800),ipv4(proto=17)",
        "set(eth(src=02:aa:aa:aa:aa:aa)),set(ipv4(src=192.168.7.9,ttl=9)),set(udp(dst=5353)),2",
    );
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222, b"payload!");
    inject(&s.dp, 1, &f);
    let out = sent(&s.dp, 2, 1);
    let o = &out[0];
    assert_eq!(&o[6..12], &[2, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
    let k = extract(o, &Default::default()).key;
    assert_eq!(k.nw_src, u32::from_be_bytes([192, 168, 7, 9]));
    assert_eq!(k.nw_ttl, 9);
    assert_eq!(k.tp_dst, 5353);
    assert_eq!(k.tp_src, 1111);
    assert!(checksums_ok(o), "checksums broken after set");
    // Masked set of the destination's low byte only.
    put(
        &mut s.dp,
        "in_port(3),eth_type(0x0800)",
        "set(ipv4(dst=0.0.0.77/0.0.0.255)),2",
    );
    inject(&s.dp, 3, &f);
    let o = &sent(&s.dp, 2, 1)[0];
    let k = extract(o, &Default::default()).key;
    assert_eq!(k.nw_dst, u32::from_be_bytes([10, 0, 0, 77]));
    assert!(checksums_ok(o));
}

#[test]
fn vlan_push_pop_and_match() {
    let mut s = setup("dpn5");
    put(&mut s.dp, "in_port(1)", "push_vlan(vid=10,pcp=3),2");
    put(
        &mut s.dp,
        "in_port(2),eth_type(0x8100),vlan(vid=10,pcp=3),encap(eth_type(0x0800))",
        "pop_vlan,3",
    );
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"v");
    inject(&s.dp, 1, &f);
    let tagged = sent(&s.dp, 2, 1).remove(0);
    assert_eq!(&tagged[12..16], &[0x81, 0x00, 0x60, 0x0a]);
    assert_eq!(&tagged[16..], &f[12..]);
    inject(&s.dp, 2, &tagged);
    assert_eq!(sent(&s.dp, 3, 1), vec![f.clone()]);
    // The untagged frame on port 2 does not match the VLAN flow.
    inject(&s.dp, 2, &f);
    let u = s.rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(key_text(&u.key).contains("in_port(2)"));
}

#[test]
fn userspace_action_and_execute_and_recirc() {
    let mut s = setup("dpn6");
    put(
        &mut s.dp,
        "in_port(1)",
        "userspace(pid=0,userdata(0102030405060708)),2",
    );
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"u");
    inject(&s.dp, 1, &f);
    let u = s.rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(u.kind, UpcallKind::Action);
    assert_eq!(u.userdata.as_deref(), Some(&[1u8, 2, 3, 4, 5, 6, 7, 8][..]));
    assert_eq!(u.packet, f);
    assert_eq!(sent(&s.dp, 2, 1).len(), 1);

    // execute: output straight to port 3.
    let meta = Key::new(vec![KeyAttr::InPort(1)]).to_nlattrs().unwrap();
    let a = odp::parse_actions("3", None).unwrap();
    s.dp.execute(&Execute {
        packet: &f,
        key: &meta,
        actions: &a,
        probe: false,
        mru: 0,
    })
    .unwrap();
    assert_eq!(sent(&s.dp, 3, 1), vec![f.clone()]);

    // Recirculation: recirc_id(5) packets go to port 3.
    put(&mut s.dp, "recirc_id(5),in_port(1)", "3");
    let a = odp::parse_actions("recirc(5)", None).unwrap();
    s.dp.execute(&Execute {
        packet: &f,
        key: &meta,
        actions: &a,
        probe: false,
        mru: 0,
    })
    .unwrap();
    assert_eq!(sent(&s.dp, 3, 1), vec![f.clone()]);
    // A recirculation loop is cut off and counted.
    put(&mut s.dp, "recirc_id(6),in_port(1)", "recirc(6)");
    let a = odp::parse_actions("recirc(6)", None).unwrap();
    s.dp.execute(&Execute {
        packet: &f,
        key: &meta,
        actions: &a,
        probe: false,
        mru: 0,
    })
    .unwrap();
    assert_eq!(s.dp.drop_stats().recirc, 1);
}

#[test]
fn clone_trunc_check_pkt_len_hash_sample() {
    let mut s = setup("dpn7");
    put(
        &mut s.dp,
        "in_port(1)",
        "clone(trunc(20),2),check_pkt_len(size=60,gt(3),le(2)),hash(l4(0)),sample(sample=0%,actions(3))",
    );
    let small = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"s");
    let big = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, &[7u8; 100]);
    inject(&s.dp, 1, &small);
    let o2 = sent(&s.dp, 2, 2);
    assert_eq!(o2.len(), 2);
    assert_eq!(o2[0].len(), 20, "clone(trunc) output cut to 20 bytes");
    assert_eq!(o2[1], small, "le branch gets the whole small frame");
    inject(&s.dp, 1, &big);
    assert_eq!(
        sent(&s.dp, 3, 1),
        vec![big.clone()],
        "gt branch for the big frame"
    );
    assert_eq!(sent(&s.dp, 2, 1).len(), 1);
}

#[test]
fn hostile_frames_are_dropped_and_counted() {
    let mut s = setup("dpn8");
    put(&mut s.dp, "in_port(1)", "2");
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"xyz");
    // Shorter than an Ethernet header: dropped, counted invalid.
    let short: Vec<Vec<u8>> = (0..14).map(|n| f[..n].to_vec()).collect();
    // Whole Ethernet header, broken below: switched on what parses, as
    // stock's datapaths do (here by the in_port flow).
    let broken: Vec<Vec<u8>> = vec![
        f[..20].to_vec(), // IPv4 header cut
        {
            let mut g = f.clone();
            g[14] = 0x43; // IHL 3
            g
        },
        {
            let mut g = f.clone();
            g[16] = 0xff; // total length beyond the frame
            g
        },
        f[..38].to_vec(), // UDP header cut
    ];
    for b in short.iter().chain(&broken) {
        inject(&s.dp, 1, b);
    }
    // A giant frame and a jumbo frame are fine for a dummy port: forwarded.
    let jumbo = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, &vec![1u8; 8000]);
    inject(&s.dp, 1, &jumbo);
    let out = sent(&s.dp, 2, broken.len() + 1);
    let mut want = broken.clone();
    want.push(jumbo);
    assert_eq!(out, want);
    let t = Instant::now();
    while s.dp.drop_stats().invalid < short.len() as u64 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(s.dp.drop_stats().invalid, short.len() as u64);
    assert!(s.rx.try_recv().is_none(), "no upcall for garbage");
    assert_eq!(s.dp.drop_stats().panics, 0);
}

#[test]
fn packet_from_flow_string_and_pcap_capture() {
    let mut s = setup("dpn9");
    let dir = std::env::temp_dir().join(format!("fvn-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (rx, tx) = (dir.join("p1-rx.pcap"), dir.join("p2.pcap"));
    s.dp.dummy_device(1)
        .unwrap()
        .set_pcap(rx.to_str(), None)
        .unwrap();
    let p2 = s.dp.dummy_device(2).unwrap();
    p2.set_pcap(tx.to_str(), tx.to_str()).unwrap();
    put(
        &mut s.dp,
        "in_port(1),eth_type(0x0800),ipv4(proto=6),tcp(dst=80)",
        "2",
    );
    // What netdev-dummy/receive does with a flow string.
    let text = "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),\
                ipv4(src=192.168.0.1,dst=192.168.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=8,dst=80),tcp_flags(syn)";
    let key = odp::parse_flow(text, None).unwrap().key;
    let pkt = ferrovs_dpif::netdev::odp_key::packet_from_odp(&key).unwrap();
    assert_eq!(pkt.meta.in_port, 1);
    let frame = pkt.data().to_vec();
    assert!(checksums_ok(&frame));
    s.dp.dummy_device(1).unwrap().inject(pkt);
    assert_eq!(sent(&s.dp, 2, 1), vec![frame.clone()]);
    let got = ferrovs_netdev::pcap::parse(&std::fs::read(&tx).unwrap()).unwrap();
    assert_eq!(got, vec![frame.clone()]);
    let got = ferrovs_netdev::pcap::parse(&std::fs::read(&rx).unwrap()).unwrap();
    assert_eq!(got, vec![frame]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tcp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: &str) -> Vec<u8> {
    let flags = flags
        .split('+')
        .filter(|f| !f.is_empty())
        .fold(0u16, |acc, f| {
            acc | match f {
                "fin" => 0x01,
                "syn" => 0x02,
                "rst" => 0x04,
                "ack" => 0x10,
                other => panic!("flag {other}"),
            }
        });
    let k = ferrovs_netdev::FlowKey {
        eth_src: MAC1,
        eth_dst: MAC2,
        eth_type: 0x0800,
        nw_src: u32::from_be_bytes(src),
        nw_dst: u32::from_be_bytes(dst),
        nw_proto: 6,
        nw_ttl: 64,
        tp_src: sport,
        tp_dst: dport,
        tcp_flags: flags,
        ..Default::default()
    };
    ferrovs_netdev::compose::compose(&k, b"data")
}

/// A stateful firewall: A (port 1) may open TCP connections to B (port
/// 2); B's replies pass, B's own new connections do not.
#[test]
fn conntrack_stateful_firewall() {
    let mut s = setup("dpn10");
    put(
        &mut s.dp,
        "recirc_id(0),in_port(1),eth_type(0x0800),ipv4(proto=6)",
        "ct(zone=1),recirc(0x1)",
    );
    put(
        &mut s.dp,
        "recirc_id(0x1),in_port(1),ct_state(+new+trk),eth_type(0x0800)",
        "ct(commit,zone=1,mark=0x5/0xff),2",
    );
    put(
        &mut s.dp,
        "recirc_id(0x1),in_port(1),ct_state(-new+est+trk),eth_type(0x0800)",
        "2",
    );
    put(
        &mut s.dp,
        "recirc_id(0),in_port(2),eth_type(0x0800),ipv4(proto=6)",
        "ct(zone=1),recirc(0x2)",
    );
    put(
        &mut s.dp,
        "recirc_id(0x2),in_port(2),ct_state(+est+trk),eth_type(0x0800)",
        "1",
    );
    put(
        &mut s.dp,
        "recirc_id(0x2),in_port(2),ct_state(+new+trk),eth_type(0x0800)",
        "drop",
    );
    put(
        &mut s.dp,
        "recirc_id(0x2),in_port(2),ct_state(+inv+trk),eth_type(0x0800)",
        "drop",
    );
    put(
        &mut s.dp,
        "recirc_id(0x1),in_port(1),ct_state(+inv+trk),eth_type(0x0800)",
        "drop",
    );

    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let syn = tcp_frame(a, b, 40000, 80, "syn");
    inject(&s.dp, 1, &syn);
    assert_eq!(sent(&s.dp, 2, 1), vec![syn.clone()], "A's SYN passes");
    let synack = tcp_frame(b, a, 80, 40000, "syn+ack");
    inject(&s.dp, 2, &synack);
    assert_eq!(sent(&s.dp, 1, 1), vec![synack.clone()], "B's reply passes");
    let ack = tcp_frame(a, b, 40000, 80, "ack");
    inject(&s.dp, 1, &ack);
    assert_eq!(sent(&s.dp, 2, 1), vec![ack.clone()], "established");
    // B opening its own connection to A is new in B's direction: dropped.
    let evil = tcp_frame(b, a, 5555, 22, "syn");
    inject(&s.dp, 2, &evil);
    // A mid-stream packet nobody opened is invalid: dropped too.
    let stray = tcp_frame(b, a, 6666, 22, "ack");
    inject(&s.dp, 2, &stray);
    assert!(nothing_sent(&s.dp, 1), "B may not open connections");

    let conns = s.dp.conntrack().dump();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].mark, 5);
    assert_eq!(conns[0].orig.zone, 1);
    assert_eq!((conns[0].orig.sport, conns[0].orig.dport), (40000, 80));
    assert_eq!(
        conns[0].to_dpctl_text(),
        "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=40000,dport=80),\
         reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=40000),\
         zone=1,mark=5,protoinfo=(state=ESTABLISHED)"
    );
    // Both sides close; then the same ports open a new connection.
    inject(&s.dp, 1, &tcp_frame(a, b, 40000, 80, "fin+ack"));
    inject(&s.dp, 2, &tcp_frame(b, a, 80, 40000, "fin+ack"));
    assert_eq!(sent(&s.dp, 2, 1).len(), 1);
    assert_eq!(sent(&s.dp, 1, 1).len(), 1);
    let text = s.dp.conntrack().dump()[0].to_dpctl_text();
    assert!(text.ends_with("protoinfo=(state=TIME_WAIT)"), "{text}");
    inject(&s.dp, 1, &syn);
    assert_eq!(sent(&s.dp, 2, 1), vec![syn.clone()], "a new SYN reopens");
    let text = s.dp.conntrack().dump()[0].to_dpctl_text();
    assert!(text.ends_with("protoinfo=(state=SYN_SENT)"), "{text}");
    s.dp.conntrack().flush(None);
    assert!(s.dp.conntrack().dump().is_empty());
    // After the flush the connection is unknown: the reply is dropped.
    inject(&s.dp, 2, &tcp_frame(b, a, 80, 40000, "ack"));
    assert!(nothing_sent(&s.dp, 1));
}

/// Source NAT: A's UDP flows leave with 192.168.100.1 as source; replies
/// come back translated to A, checksums right both ways.
#[test]
fn conntrack_source_nat() {
    let mut s = setup("dpn11");
    put(
        &mut s.dp,
        "in_port(1),eth_type(0x0800),ipv4(proto=17)",
        "ct(commit,zone=2,nat(src=192.168.100.1)),2",
    );
    put(
        &mut s.dp,
        "recirc_id(0),in_port(2),eth_type(0x0800)",
        "ct(zone=2,nat),recirc(0x3)",
    );
    put(
        &mut s.dp,
        "recirc_id(0x3),in_port(2),ct_state(+est+trk),eth_type(0x0800)",
        "1",
    );
    let out = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222, b"ping");
    inject(&s.dp, 1, &out);
    let o = sent(&s.dp, 2, 1).remove(0);
    let k = extract(&o, &Default::default()).key;
    assert_eq!(k.nw_src, u32::from_be_bytes([192, 168, 100, 1]));
    assert_eq!((k.tp_src, k.tp_dst), (1111, 2222));
    assert!(checksums_ok(&o), "SNATed packet checksums");
    let back = udp_frame([10, 0, 0, 2], [192, 168, 100, 1], 2222, 1111, b"pong");
    inject(&s.dp, 2, &back);
    let r = sent(&s.dp, 1, 1).remove(0);
    let k = extract(&r, &Default::default()).key;
    assert_eq!(k.nw_dst, u32::from_be_bytes([10, 0, 0, 1]));
    assert_eq!(k.nw_src, u32::from_be_bytes([10, 0, 0, 2]));
    assert!(checksums_ok(&r), "un-NATed reply checksums");
    let c = s.dp.conntrack().dump();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].nat, 0x40);
    assert_eq!(
        c[0].to_dpctl_text(),
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1111,dport=2222),\
         reply=(src=10.0.0.2,dst=192.168.100.1,sport=2222,dport=1111),zone=2"
    );
}

/// SNAT to the all-zero address (`ct_zero_snat`, which ovn-controller
/// relies on when the Datapath row says so): the source stays as it is.
#[test]
fn conntrack_all_zero_snat_keeps_the_source() {
    let mut s = setup("dpn20");
    put(
        &mut s.dp,
        "in_port(1),eth_type(0x0800),ipv4(proto=17)",
        "ct(commit,zone=3,nat(src=0.0.0.0)),2",
    );
    let out = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222, b"ping");
    inject(&s.dp, 1, &out);
    let o = sent(&s.dp, 2, 1).remove(0);
    let k = extract(&o, &Default::default()).key;
    assert_eq!(k.nw_src, u32::from_be_bytes([10, 0, 0, 1]));
    assert_eq!((k.tp_src, k.tp_dst), (1111, 2222));
    let c = s.dp.conntrack().dump();
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].to_dpctl_text(),
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1111,dport=2222),\
         reply=(src=10.0.0.2,dst=10.0.0.1,sport=2222,dport=1111),zone=3"
    );
}

#[test]
fn meter_drops_above_its_rate() {
    use ferrovs_dpif::netdev::meter::{BandConfig, MeterConfig};
    let mut s = setup("dpn12");
    s.dp.meter_set(
        1,
        &MeterConfig {
            pktps: true,
            bands: vec![BandConfig {
                rate: 10,
                burst_size: 5,
            }],
        },
    )
    .unwrap();
    put(&mut s.dp, "in_port(1)", "meter(0x1),2");
    let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"m");
    for _ in 0..100 {
        inject(&s.dp, 1, &f);
    }
    let t = Instant::now();
    while s.dp.meter_get(1).unwrap().packets_in < 100 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let st = s.dp.meter_get(1).unwrap();
    let passed = s.dp.dummy_device(2).unwrap().take_sent().len() as u64;
    assert_eq!(st.packets_in, 100);
    assert_eq!(passed + st.bands[0].packets, 100, "{st:?}");
    assert!(passed >= 5, "the burst passes: {passed}");
    assert!(st.bands[0].packets > 0, "the rest is metered: {st:?}");
    assert!(s
        .dp
        .meter_set(
            2,
            &MeterConfig {
                pktps: true,
                bands: vec![]
            }
        )
        .is_err());
    s.dp.meter_del(1).unwrap();
    assert!(s.dp.meter_get(1).is_err());
}

const VXLAN_PUSH: &str = "tnl_push(tnl_port(4),header(size=50,type=4,\
    eth(dst=aa:55:aa:55:00:02,src=aa:55:aa:55:00:01,dl_type=0x0800),\
    ipv4(src=192.0.2.1,dst=192.0.2.2,proto=17,tos=0,ttl=64,frag=0x4000),\
    udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x7b)),out_port(2))";

/// VXLAN in the datapath: tnl_push builds a correct outer header; the
/// encapsulated frame fed back in is popped, shows up as a MISS with its
/// tunnel metadata, and a tunnel flow then delivers the inner frame.
#[test]
fn vxlan_push_and_pop() {
    let mut s = setup("dpn13");
    let vx =
        s.dp.port_add(&PortSpec {
            name: "vxlan_sys_4789".into(),
            port_type: "vxlan".into(),
            options: vec![("dst_port".into(), "4789".into())],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(vx, 4);
    put(&mut s.dp, "in_port(1)", VXLAN_PUSH);
    let inner = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222, b"inner payload");
    inject(&s.dp, 1, &inner);
    let outer = sent(&s.dp, 2, 1).remove(0);
    assert_eq!(outer.len(), inner.len() + 50);
    assert_eq!(&outer[50..], &inner[..], "inner frame intact");
    let x = extract(&outer, &Default::default());
    assert_eq!(x.key.nw_src, u32::from_be_bytes([192, 0, 2, 1]));
    assert_eq!(x.key.tp_dst, 4789);
    assert!(
        (32768..61000).contains(&x.key.tp_src),
        "source port from the flow hash"
    );
    assert_eq!(csum::checksum(&outer[14..34]), 0, "outer IPv4 checksum");
    assert_eq!(
        u16::from_be_bytes([outer[16], outer[17]]) as usize,
        outer.len() - 14
    );
    assert_eq!(
        u16::from_be_bytes([outer[38], outer[39]]) as usize,
        outer.len() - 34
    );
    assert_eq!(
        &outer[42..50],
        &[0x08, 0, 0, 0, 0, 0, 0x7b, 0],
        "VXLAN header"
    );

    // Decapsulation on port 3.
    put(
        &mut s.dp,
        "in_port(3),eth_type(0x0800),ipv4(dst=192.0.2.2,proto=17),udp(dst=4789)",
        "tnl_pop(4)",
    );
    inject(&s.dp, 3, &outer);
    let u = s.rx.recv_timeout(Duration::from_secs(5)).expect("miss");
    assert_eq!(u.packet, inner);
    let k = key_text(&u.key);
    assert!(k.contains("in_port(4)"), "{k}");
    assert!(
        k.contains("tunnel(tun_id=0x7b,src=192.0.2.1,dst=192.0.2.2"),
        "{k}"
    );
    put(
        &mut s.dp,
        "in_port(4),tunnel(tun_id=0x7b,src=192.0.2.1,dst=192.0.2.2),eth_type(0x0800)",
        "1",
    );
    inject(&s.dp, 3, &outer);
    assert_eq!(sent(&s.dp, 1, 1), vec![inner.clone()]);
    // Another VNI does not match that flow.
    let mut other = outer.clone();
    other[48] = 0x7c;
    inject(&s.dp, 3, &other);
    let u = s.rx.recv_timeout(Duration::from_secs(5)).expect("miss");
    assert!(key_text(&u.key).contains("tun_id=0x7c"));
    // A frame to another UDP port is not popped.
    let mut wrong = outer.clone();
    wrong[37] = 0xb6; // dst port 4790
    inject(&s.dp, 3, &wrong);
    assert!(nothing_sent(&s.dp, 1));
}

/// ICMP errors quoting a tracked connection are RELATED (in the reply
/// direction) and may pass a firewall; others are not.
#[test]
fn conntrack_related_icmp_errors() {
    let mut s = setup("dpn14");
    put(
        &mut s.dp,
        "recirc_id(0),in_port(1),eth_type(0x0800)",
        "ct(commit,zone=3),2",
    );
    put(
        &mut s.dp,
        "recirc_id(0),in_port(2),eth_type(0x0800)",
        "ct(zone=3),recirc(0x4)",
    );
    put(
        &mut s.dp,
        "recirc_id(0x4),in_port(2),ct_state(+rel+rpl+trk),eth_type(0x0800)",
        "1",
    );
    put(
        &mut s.dp,
        "recirc_id(0x4),in_port(2),ct_state(-rel+trk),eth_type(0x0800)",
        "drop",
    );
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let out = udp_frame(a, b, 5000, 53, b"query");
    inject(&s.dp, 1, &out);
    assert_eq!(sent(&s.dp, 2, 1).len(), 1);
    // Destination unreachable (port) from B to A, quoting the IP header
    // and first 8 bytes of `quoted`.
    let icmp_error = |quoted: &[u8]| {
        let mut icmp = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted[14..14 + 28]);
        let c = csum::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&b);
        ip.extend_from_slice(&a);
        let c = csum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&MAC1);
        f.extend_from_slice(&MAC2);
        f.extend_from_slice(&[8, 0]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&icmp);
        f
    };
    let err = icmp_error(&out);
    inject(&s.dp, 2, &err);
    assert_eq!(sent(&s.dp, 1, 1), vec![err], "related error passes");
    let stranger = udp_frame(a, b, 6000, 53, b"never sent");
    inject(&s.dp, 2, &icmp_error(&stranger));
    assert!(
        nothing_sent(&s.dp, 1),
        "an error about nothing tracked is dropped"
    );
}

/// Flows and executes with actions this datapath cannot run are refused
/// (EINVAL), as the kernel refuses them: feature probing depends on it.
#[test]
fn unsupported_actions_are_refused() {
    let mut s = setup("dpn15");
    let f = odp::parse_flow("in_port(1)", None).unwrap();
    for bad in [
        "push_eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),2",
        "clone(pop_eth,2)",
        "ct(commit,helper=ftp)",
        "set(sctp(src=1,dst=2)),2",
    ] {
        let a = odp::parse_actions(bad, None).unwrap_or_else(|e| panic!("{bad}: {e}"));
        let e =
            s.dp.flow_put(&FlowPut {
                flags: PutFlags {
                    create: true,
                    ..Default::default()
                },
                key: &f.key,
                mask: &f.mask,
                actions: &a,
                ufid: None,
            })
            .unwrap_err();
        assert_eq!(e.errno, libc::EINVAL, "{bad}");
        let frame = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"p");
        let meta = Key::new(vec![KeyAttr::InPort(1)]).to_nlattrs().unwrap();
        let e =
            s.dp.execute(&Execute {
                packet: &frame,
                key: &meta,
                actions: &a,
                probe: true,
                mru: 0,
            })
            .unwrap_err();
        assert_eq!(e.errno, libc::EINVAL, "{bad}");
    }
    assert!(s.dp.flow_dump().unwrap().is_empty());
}

/// IPv6 source NAT: address rewritten both ways, UDP checksum right.
#[test]
fn conntrack_ipv6_nat() {
    let mut s = setup("dpn16");
    put(
        &mut s.dp,
        "in_port(1),eth_type(0x86dd),ipv6(proto=17)",
        "ct(commit,zone=4,nat(src=2001:db8::99)),2",
    );
    put(
        &mut s.dp,
        "recirc_id(0),in_port(2),eth_type(0x86dd)",
        "ct(zone=4,nat),recirc(0x6)",
    );
    put(
        &mut s.dp,
        "recirc_id(0x6),in_port(2),ct_state(+est+trk),eth_type(0x86dd)",
        "1",
    );
    let key = |src: u128, dst: u128, sp: u16, dp: u16| ferrovs_netdev::FlowKey {
        eth_src: MAC1,
        eth_dst: MAC2,
        eth_type: 0x86dd,
        ipv6_src: src,
        ipv6_dst: dst,
        nw_proto: 17,
        nw_ttl: 64,
        tp_src: sp,
        tp_dst: dp,
        ..Default::default()
    };
    let (a, b, n) = (
        0x2001_0db8_0000_0000_0000_0000_0000_0001u128,
        0x2001_0db8_0000_0000_0000_0000_0000_0002u128,
        0x2001_0db8_0000_0000_0000_0000_0000_0099u128,
    );
    let v6_ok = |f: &[u8]| {
        let x = extract(f, &Default::default());
        let seg = &f[x.layers.l4.unwrap()..];
        let ps = csum::pseudo_v6(x.key.ipv6_src, x.key.ipv6_dst, 17, seg.len());
        csum::fold(csum::add(ps, seg)) == 0xffff
    };
    let out = ferrovs_netdev::compose::compose(&key(a, b, 7000, 53), b"v6 query");
    assert!(v6_ok(&out));
    inject(&s.dp, 1, &out);
    let o = sent(&s.dp, 2, 1).remove(0);
    let k = extract(&o, &Default::default()).key;
    assert_eq!((k.ipv6_src, k.ipv6_dst, k.tp_src), (n, b, 7000));
    assert!(v6_ok(&o), "NATed IPv6 UDP checksum");
    let back = ferrovs_netdev::compose::compose(&key(b, n, 53, 7000), b"v6 answer");
    inject(&s.dp, 2, &back);
    let r = sent(&s.dp, 1, 1).remove(0);
    let k = extract(&r, &Default::default()).key;
    assert_eq!((k.ipv6_src, k.ipv6_dst, k.tp_dst), (b, a, 7000));
    assert!(v6_ok(&r), "un-NATed IPv6 UDP checksum");
}

/// Several handlers: every flow's upcalls go to one of them, and the
/// flows are spread over all.
#[test]
fn upcalls_spread_over_handlers_by_flow() {
    let mut s = setup("dpn17");
    let rxs = s.dp.upcall_receivers(3).unwrap();
    assert_eq!(rxs.len(), 3);
    for round in 0..2u8 {
        for port in 0..30u16 {
            let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1000 + port, 53, &[round]);
            inject(&s.dp, 1, &f);
        }
    }
    let mut seen: std::collections::HashMap<u16, std::collections::HashSet<usize>> =
        Default::default();
    let mut per_rx = [0usize; 3];
    let t = Instant::now();
    while per_rx.iter().sum::<usize>() < 60 && t.elapsed() < Duration::from_secs(5) {
        for (i, rx) in rxs.iter().enumerate() {
            while let Some(u) = rx.try_recv() {
                let k = extract(&u.packet, &Default::default()).key;
                seen.entry(k.tp_src).or_default().insert(i);
                per_rx[i] += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(per_rx.iter().sum::<usize>(), 60, "{per_rx:?}");
    assert_eq!(seen.len(), 30);
    assert!(
        seen.values().all(|h| h.len() == 1),
        "a flow stays on one handler"
    );
    assert!(
        per_rx.iter().all(|&n| n > 0),
        "all handlers get work: {per_rx:?}"
    );
    // The receiver from before no longer gets anything.
    assert!(s.rx.try_recv().is_none());
}
