//! Micro-benchmark of flow-setup translation: the cost of one MISS
//! upcall's translation on a handler thread, through the same entry
//! point the daemon's handlers use (`UpcallTranslator::translate`, in
//! batches of 64), on the setup benchmark's pipelines:
//!
//! - `pipeline`: bench/benchlib/scenarios/setup.py's 10-table
//!   `port_pipeline()` (UDP source port copied to a register, then ten
//!   tables of a few rule shapes each, the last one outputs);
//! - `normal`: the default `priority=0,actions=NORMAL` table with every
//!   packet from a new source MAC (so every one learns).
//!
//! Flows are added with the stock `ovs-ofctl` through the bridge's
//! management socket, and the topology is the one the daemon gives a
//! userspace-datapath bridge. Reports per translation the translating
//! thread's CPU time (the scheduler's accounting, so that waiting for a
//! CPU on a loaded machine does not count), the whole process's (with
//! the service thread adding the packets' credits), wall time, and heap
//! allocations (a counting global allocator); best of the rounds:
//!
//! ```text
//! cargo run --release -p ferrovs-ofproto --example xlate_bench -- [pipeline|normal] [N] [ROUNDS]
//! ```
//!
//! A benchmark, not a test: it asserts only that translation works
//! (every answer outputs to the other port).

use ferrovs_dpif::odp::key::{EthKey, Ipv4Key, PortsKey};
use ferrovs_dpif::odp::{Key, KeyAttr};
use ferrovs_ofproto::service::UpcallItem;
use ferrovs_ofproto::xlate::topology::{BridgeTopo, PortKind, PortTopo, Topology};
use ferrovs_ofproto::xlate::upcall::UpcallRequest;
use ferrovs_ofproto::{versions_from_protocols, BridgeConfig, OfprotoService, PortInfo};
use ferrovs_tests::counting_alloc::{allocations, trace_allocations, Counting};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

// Allocations of every thread: the benchmark reads the count around its
// own loop, during which the service thread is idle.
#[global_allocator]
static GLOBAL: Counting = Counting;

const TABLES: usize = 10;
const BATCH: usize = 64;
/// Datapath port numbers of OpenFlow ports 1 and 2.
const ODP1: u32 = 2;
const ODP2: u32 = 3;

/// bench/benchlib/scenarios/trace.py's `pipeline()`, led by setup.py's
/// UDP rule.
fn port_pipeline() -> String {
    let mut s = String::from(
        "table=0,priority=40,udp,actions=move:NXM_OF_UDP_SRC[]->NXM_NX_REG7[0..15],resubmit(,1)\n",
    );
    for t in 0..TABLES {
        let nxt = if t + 1 < TABLES {
            format!("resubmit(,{})", t + 1)
        } else {
            "output:2".to_string()
        };
        for i in 0..8 {
            s += &format!(
                "table={t},priority=30,tcp,nw_src=10.{t}.{i}.0/24,tp_dst={},actions=load:{i}->NXM_NX_REG{}[],{nxt}\n",
                1000 + i,
                t % 8
            );
            s += &format!("table={t},priority=20,udp,nw_dst=192.168.{t}.{i},actions={nxt}\n");
            s += &format!(
                "table={t},priority=10,ip,nw_dst=172.16.{t}.0/24,nw_tos={},actions=set_field:{i}->reg{},{nxt}\n",
                4 * i,
                (t + 1) % 8
            );
        }
        s += &format!("table={t},priority=0,actions={nxt}\n");
    }
    s
}

/// The key the userspace datapath upcalls for pktgen.py's frame `seq`
/// (unique source MAC, UDP source port 40000 + seq % 20000).
fn key(seq: u32) -> Vec<u8> {
    let s = seq.to_be_bytes();
    Key::new(vec![
        KeyAttr::Priority(0),
        KeyAttr::InPort(ODP1),
        KeyAttr::SkbMark(0),
        KeyAttr::CtState(0),
        KeyAttr::CtZone(0),
        KeyAttr::CtMark(0),
        KeyAttr::CtLabels(0),
        KeyAttr::RecircId(0),
        KeyAttr::DpHash(0),
        KeyAttr::Ethernet(EthKey {
            src: [0x0e, 0, s[0], s[1], s[2], s[3]],
            dst: [0x02, 0, 0x0a, 0xfb, 0, 2],
        }),
        KeyAttr::Ethertype(0x0800),
        KeyAttr::Ipv4(Ipv4Key {
            src: [10, 251, 0, 1].into(),
            dst: [10, 251, 0, 2].into(),
            proto: 17,
            tos: 0,
            ttl: 64,
            frag: 0,
        }),
        KeyAttr::Udp(PortsKey {
            src: 40000 + (seq % 20000) as u16,
            dst: 9,
        }),
    ])
    .to_nlattrs()
    .expect("key encodes")
}

/// Nanoseconds the calling thread and the whole process have run on a
/// CPU (the scheduler's own accounting: waiting for a CPU on a loaded
/// machine does not count).
fn cpu_ns() -> (u64, u64) {
    let read = |path: &std::path::Path| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let me = read(std::path::Path::new("/proc/thread-self/schedstat"));
    let all = std::fs::read_dir("/proc/self/task")
        .map(|d| d.flatten().map(|t| read(&t.path().join("schedstat"))).sum())
        .unwrap_or(0);
    (me, all)
}

fn port(n: u16) -> PortInfo {
    PortInfo {
        ofp_port: n,
        name: format!("p{n}"),
        hw_addr: [2, 0, 0, 0, 0, n as u8],
        config: 0,
        state: 4,
        curr: 0,
        advertised: 0,
        supported: 0,
        peer: 0,
        curr_speed: 0,
        max_speed: 0,
        dummy_queue: false,
        kernel_device: false,
    }
}

fn topology(odp_ports: &HashMap<u16, u32>) -> Topology {
    let ports = [(1, "p1"), (2, "p2"), (0xfffe, "br0")]
        .into_iter()
        .map(|(n, name)| {
            let p = PortTopo {
                name: name.into(),
                kind: PortKind::Plain,
                mac: Some([2, 0, 0, 0, 0, n as u8]),
                addrs: Vec::new(),
            };
            (n, p)
        })
        .collect();
    let bt = BridgeTopo {
        odp_ports: odp_ports.clone(),
        ports,
    };
    Topology {
        bridges: HashMap::from([("br0".to_string(), bt)]),
        ..Topology::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("pipeline", String::as_str).to_string();
    let n: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rounds: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    if mode != "pipeline" && mode != "normal" {
        eprintln!("usage: xlate_bench [pipeline|normal] [N] [ROUNDS]");
        std::process::exit(2);
    }

    let dir = std::env::temp_dir().join(format!("ferrovs-xlate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let svc = OfprotoService::start().expect("start service");
    let mgmt = dir.join("br0.mgmt");
    svc.add_bridge(BridgeConfig {
        name: "br0".into(),
        datapath_id: 1,
        mgmt_path: mgmt.clone(),
        versions: versions_from_protocols(&["OpenFlow10".into(), "OpenFlow13".into()]),
        normal_flow: true,
    })
    .expect("add bridge");
    svc.set_ports("br0", vec![port(1), port(2)]);
    let odp_ports: Arc<HashMap<u16, u32>> =
        Arc::new(HashMap::from([(1, ODP1), (2, ODP2), (0xfffe, 1)]));
    svc.set_topology("netdev", Arc::new(topology(&odp_ports)));
    if mode == "pipeline" {
        let file = dir.join("pipeline.txt");
        std::fs::write(&file, port_pipeline()).expect("write flows");
        let target = format!("unix:{}", mgmt.display());
        let out = Command::new("ovs-ofctl")
            .args(["del-flows", &target])
            .output()
            .and_then(|_| {
                Command::new("ovs-ofctl")
                    .args(["add-flows", &target])
                    .arg(&file)
                    .output()
            })
            .expect("run ovs-ofctl (install openvswitch-common)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Any request after the above is served after them.
    assert_eq!(svc.list_bridges(), vec!["br0".to_string()]);

    let translator = svc.upcall_translator();
    let mut best_ns = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut best_all = f64::MAX;
    let mut best_allocs = f64::MAX;
    for round in 0..rounds {
        // New flows every round (NORMAL learns each source MAC once).
        let items: Vec<UpcallItem> = (0..n)
            .map(|i| UpcallItem {
                bridge: "br0".into(),
                req: UpcallRequest {
                    key: key(round * n + i),
                    odp_ports: odp_ports.clone(),
                    may_learn: true,
                    parsed: None,
                    packet_out: None,
                },
                packet_len: Some(60),
            })
            .collect();
        // Translation credits its rules; the service adds them.
        let _ = svc.dump_flows("br0");
        let allocs = allocations();
        let cpu = cpu_ns();
        let start = Instant::now();
        let mut ok = 0usize;
        for batch in items.chunks(BATCH) {
            for r in translator.translate(batch) {
                let x = r.expect("translated");
                // output:ODP2 (OVS_ACTION_ATTR_OUTPUT is 1), last.
                let tail = [8, 0, 1, 0, ODP2 as u8, 0, 0, 0];
                ok += x.actions.ends_with(&tail) as usize;
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        let per = (allocations() - allocs) as f64 / n as f64;
        // The service adds the credits the batches queued.
        let _ = svc.dump_flows("br0");
        let cpu_end = cpu_ns();
        let me = (cpu_end.0 - cpu.0) as f64 / n as f64;
        let all = (cpu_end.1 - cpu.1) as f64 / n as f64;
        assert_eq!(ok, n as usize, "every translation outputs to port 2");
        println!(
            "round {round}: {me:.0} ns CPU/translation ({all:.0} with the service's \
             crediting), {ns:.0} ns wall, {per:.1} allocations/translation"
        );
        best_ns = best_ns.min(ns);
        best_cpu = best_cpu.min(me);
        best_all = best_all.min(all);
        best_allocs = best_allocs.min(per);
    }
    if std::env::var_os("XLATE_BENCH_WHO").is_some() {
        let item = UpcallItem {
            bridge: "br0".into(),
            req: UpcallRequest {
                key: key(u32::MAX / 2),
                odp_ports: odp_ports.clone(),
                may_learn: true,
                parsed: None,
                packet_out: None,
            },
            packet_len: Some(60),
        };
        drop(trace_allocations(|| {
            translator.translate(std::slice::from_ref(&item))
        }));
    }
    println!(
        "{mode}: best {best_cpu:.0} ns CPU/translation ({best_all:.0} with crediting), \
         {best_ns:.0} ns wall, {best_allocs:.1} allocations/translation"
    );
    svc.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
