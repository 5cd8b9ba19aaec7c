//! Hostile packets through the userspace datapath's action executor:
//! random and mutated frames run through every action kind (header
//! rewrites, VLAN and MPLS push/pop, tunnel push and pop, conntrack with
//! NAT, truncation, sampling, ...). Nothing may panic; what cannot be
//! done is dropped.

use std::sync::Arc;

use ferrovs_dpif::netdev::actions::{execute, ExecCtx, PortTable};
use ferrovs_dpif::netdev::conntrack::Conntrack;
use ferrovs_dpif::netdev::meter::{BandConfig, MeterConfig, Meters};
use ferrovs_dpif::netdev::upcall;
use ferrovs_dpif::odp::{self, Actions};
use ferrovs_netdev::dev::{DummyDev, Netdev, TunnelDev};
use ferrovs_netdev::packet::{Offload, Packet};
use ferrovs_netdev::tunnel::TunnelKind;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ACTIONS: &[&str] = &[
    "set(eth(src=02:aa:aa:aa:aa:aa,dst=02:bb:bb:bb:bb:bb)),1",
    "set(ipv4(src=1.2.3.4,dst=5.6.7.8,tos=0x3,ttl=7)),1",
    "set(ipv4(dst=0.0.0.9/0.0.0.255)),1",
    "set(ipv6(src=2001:db8::1,dst=2001:db8::2,label=7,tclass=0x1,hlimit=3)),1",
    "set(tcp(src=1,dst=2)),set(udp(src=3,dst=4)),1",
    "push_vlan(vid=5,pcp=1),push_vlan(tpid=0x88a8,vid=6,pcp=0),1,pop_vlan,pop_vlan,pop_vlan,1",
    "push_mpls(label=10,tc=1,ttl=64,bos=1,eth_type=0x8847),1,pop_mpls(eth_type=0x800),1",
    "set(mpls(label=20,tc=0,ttl=9,bos=1)),1",
    "trunc(30),1,trunc(5),1,trunc(100000),1",
    "clone(set(ipv4(ttl=1)),1),check_pkt_len(size=64,gt(1),le(2)),1",
    "sample(sample=50.0%,actions(1)),hash(l4(0)),hash(sym_l4(0)),1",
    "ct(commit,zone=1,mark=0x1/0x1,nat(src=10.0.0.1-10.0.0.5:1000-2000)),1",
    "ct(zone=1,nat),ct(commit,zone=2,nat(dst=10.9.9.9)),ct_clear,1",
    "ct(commit,zone=3),recirc(0x5)",
    "tnl_push(tnl_port(3),header(size=50,type=4,eth(dst=02:00:00:00:00:02,src=02:00:00:00:00:01,dl_type=0x0800),ipv4(src=192.0.2.1,dst=192.0.2.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0xffff),vxlan(flags=0x8000000,vni=0x7)),out_port(1)),1",
    "tnl_pop(3),tnl_pop(4),tnl_pop(5),tnl_pop(1),1",
    "meter(0x1),1,meter(0x2),2",
    "userspace(pid=0,userdata(01020304)),1",
    "dec_ttl(le_1(1)),1",
    "99,1,2",
    "drop",
];

fn base_frames() -> Vec<Vec<u8>> {
    let hex = |s: &str| -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    vec![
        hex("020000000002 020000000001 0800 4500002c000100004011 0000 0a000001 0a000002 04d2 0050 0018 0000 6869206869206869206869206869"),
        hex("020000000002 020000000001 0800 45000028000100004006 0000 0a000001 0a000002 04d2 0050 00000001 00000000 5002ffff 00000000"),
        hex("020000000002 020000000001 86dd 60000000 0014 0640 fe800000000000000000000000000001 fe800000000000000000000000000002 04d20050 00000001 00000000 5010ffff 00000000"),
        hex("020000000002 020000000001 8100 000a 0800 4500001c0001000040010000 0a000001 0a000002 0800f7ff 00000000"),
        hex("ffffffffffff 020000000001 0806 0001080006040001 020000000001 0a000001 000000000000 0a000002"),
        hex("020000000002 020000000001 8847 00010140 4500001c0001000040110000 0a000001 0a000002 04d20050 0008 0000"),
    ]
}

fn mutate(r: &mut Rng, f: &mut Vec<u8>) {
    match r.below(5) {
        0 => {
            let n = r.below(f.len() as u64 + 1) as usize;
            f.truncate(n);
        }
        1 => {
            for _ in 0..1 + r.below(6) {
                if !f.is_empty() {
                    let i = r.below(f.len() as u64) as usize;
                    f[i] = r.next() as u8;
                }
            }
        }
        2 => {
            let n = r.below(1600) as usize;
            f.extend((0..n).map(|_| r.next() as u8));
        }
        3 => *f = (0..r.below(120)).map(|_| r.next() as u8).collect(),
        _ => {}
    }
}

#[test]
fn random_frames_through_every_action_never_panic() {
    let dummies: Vec<Arc<DummyDev>> = (0..3)
        .map(|i| Arc::new(DummyDev::new(&format!("h{i}")).unwrap()))
        .collect();
    let mut ports = PortTable::default();
    for (i, d) in dummies.iter().enumerate() {
        ports.insert(i as u32, Arc::clone(d) as Arc<dyn Netdev>);
    }
    ports.insert(
        3,
        Arc::new(TunnelDev::new("vx", TunnelKind::Vxlan, "vxlan", 0)),
    );
    ports.insert(
        4,
        Arc::new(TunnelDev::new("gn", TunnelKind::Geneve, "geneve", 0)),
    );
    ports.insert(5, Arc::new(TunnelDev::new("gr", TunnelKind::Gre, "gre", 0)));
    let (queue, rx) = upcall::channel().unwrap();
    let conntrack = Conntrack::default();
    let meters = Meters::default();
    meters
        .set(
            1,
            &MeterConfig {
                pktps: false,
                bands: vec![BandConfig {
                    rate: 1,
                    burst_size: 1,
                }],
            },
            0,
        )
        .unwrap();
    let lists: Vec<_> = ACTIONS
        .iter()
        .map(|t| {
            Actions::from_nlattrs(
                &odp::parse_actions(t, None).unwrap_or_else(|e| panic!("{t}: {e}")),
            )
            .unwrap()
            .list
        })
        .collect();
    let mut r = Rng(0x5eed_1234_abcd_ef01);
    let mut rng = 1u64;
    let frames = base_frames();
    let mut executed = 0u64;
    let (mut forwarded, mut upcalls) = (0u64, 0u64);
    for round in 0..30_000 {
        let mut f = frames[round % frames.len()].clone();
        if round % 7 != 0 {
            mutate(&mut r, &mut f);
        }
        let mut p = Packet::from_bytes(&f);
        p.meta.in_port = r.below(6) as u32;
        if r.below(4) == 0 {
            // Hostile offload metadata too.
            p.offload = Offload {
                csum_partial: true,
                csum_start: r.below(80) as u16,
                csum_offset: r.below(20) as u16,
                hdr_len: r.below(80) as u16,
                gso_type: [0u8, 1, 4, 5][r.below(4) as usize],
                gso_size: r.below(1500) as u16,
            };
        }
        let list = &lists[round % lists.len()];
        let mut recirc = Vec::new();
        let mut ctx = ExecCtx {
            ports: &ports,
            upcalls: &queue,
            conntrack: &conntrack,
            meters: &meters,
            recirc: &mut recirc,
            dropped: 0,
            rng: &mut rng,
            pending: Vec::new(),
        };
        execute(p, list, &mut ctx);
        ctx.flush();
        executed += 1;
        // Recirculated packets are run through a second list.
        for p in recirc {
            let mut more = Vec::new();
            let mut ctx = ExecCtx {
                ports: &ports,
                upcalls: &queue,
                conntrack: &conntrack,
                meters: &meters,
                recirc: &mut more,
                dropped: 0,
                rng: &mut rng,
                pending: Vec::new(),
            };
            execute(p, &lists[(round + 1) % lists.len()], &mut ctx);
            ctx.flush();
        }
        while rx.try_recv().is_some() {
            upcalls += 1;
        }
        for d in &dummies {
            forwarded += d.take_sent().len() as u64;
        }
    }
    assert_eq!(executed, 30_000);
    // The executor really ran: most lists output, one sends upcalls.
    assert!(forwarded > 3000, "forwarded {forwarded}");
    assert!(upcalls > 100, "upcalls {upcalls}");
    // Untouched valid frames still come out right after all that.
    let mut recirc = Vec::new();
    let mut ctx = ExecCtx {
        ports: &ports,
        upcalls: &queue,
        conntrack: &conntrack,
        meters: &meters,
        recirc: &mut recirc,
        dropped: 0,
        rng: &mut rng,
        pending: Vec::new(),
    };
    let out = odp::parse_actions("2", None).unwrap();
    execute(
        Packet::from_bytes(&frames[0]),
        &Actions::from_nlattrs(&out).unwrap().list,
        &mut ctx,
    );
    ctx.flush();
    let sent = dummies[2].take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].data(), &frames[0][..]);
}
