//! Tests against the real openvswitch module. They need root and the
//! module, which the build machines do not have: tests/suites/20-kernel-vm
//! runs this test binary inside a VM booting Debian's stock kernel, with
//! FERROVS_KERNEL_TESTS=1. Elsewhere they print that they skip (also under
//! CI=true: the host is not where they can run; the VM suite is, and there
//! the variable makes a missing module a failure).

use std::process::Command;
use std::time::Duration;

use super::consts::{dp_feature, OVS_KEY_ATTR_IN_PORT};
use super::{
    AttrWriter, Attrs, DispatchMode, NetlinkDpif, PortChangeKind, PortWatcher, UpcallSocket,
};
use crate::{Dpif, Execute, FlowId, FlowPut, PortSpec, PutFlags, UpcallKind};

/// OVS_KEY_ATTR_* and OVS_ACTION_ATTR_* numbers the tests encode by hand
/// (the `odp` module owns the real model).
const KEY_ETHERNET: u16 = 4;
const KEY_ETHERTYPE: u16 = 6;
const ACTION_OUTPUT: u16 = 1;
const ACTION_USERSPACE: u16 = 2;
const USERSPACE_PID: u16 = 1;
const USERSPACE_USERDATA: u16 = 2;

fn kernel_available() -> bool {
    if std::env::var("FERROVS_KERNEL_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipping: kernel datapath tests run inside the VM (tests/suites/20-kernel-vm, \
         FERROVS_KERNEL_TESTS=1)"
    );
    false
}

/// Runs iproute2's `ip` with each argument list in turn (directly, not
/// through busybox sh, whose own `ip` applet would win).
fn ip(commands: &[&str]) {
    for args in commands {
        let status = Command::new("ip")
            .args(args.split_whitespace())
            .status()
            .unwrap();
        assert!(status.success(), "`ip {args}` failed: {status}");
    }
}

/// A datapath that is deleted when the test ends, passing or not.
struct TestDp(NetlinkDpif);

impl Drop for TestDp {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

fn key_for(in_port: u32, eth_type: u16) -> Vec<u8> {
    let mut w = AttrWriter::new();
    w.put_u32(OVS_KEY_ATTR_IN_PORT, in_port);
    // struct ovs_key_ethernet: src then dst.
    w.put(KEY_ETHERNET, &[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    w.put(KEY_ETHERTYPE, &eth_type.to_be_bytes());
    w.finish().unwrap()
}

fn exact_mask() -> Vec<u8> {
    let mut w = AttrWriter::new();
    w.put_u32(OVS_KEY_ATTR_IN_PORT, u32::MAX);
    w.put(KEY_ETHERNET, &[0xff; 12]);
    w.put(KEY_ETHERTYPE, &[0xff, 0xff]);
    w.finish().unwrap()
}

fn output(port: u32) -> Vec<u8> {
    let mut w = AttrWriter::new();
    w.put_u32(ACTION_OUTPUT, port);
    w.finish().unwrap()
}

fn frame(eth_type: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&eth_type.to_be_bytes());
    f.resize(60, 0xab);
    f
}

#[test]
fn datapath_life_cycle_and_errors() {
    if !kernel_available() {
        return;
    }
    let mut dp = TestDp(NetlinkDpif::create("kt-life").unwrap());
    assert_eq!(dp.0.name(), "kt-life");
    assert_eq!(dp.0.dp_type(), "system");
    // 6.1 offers per-CPU dispatch; Open vSwitch negotiates it first.
    assert_eq!(dp.0.dispatch_mode(), DispatchMode::PerCpu);
    assert_ne!(dp.0.user_features() & dp_feature::UNALIGNED, 0);
    assert!(NetlinkDpif::enumerate()
        .unwrap()
        .contains(&"kt-life".to_string()));
    let stats = dp.0.stats().unwrap();
    assert_eq!(
        (stats.n_hit, stats.n_missed, stats.n_flows, stats.n_masks),
        (0, 0, 0, 0)
    );
    assert_eq!(dp.0.info().unwrap().masks_cache_size, Some(256));

    let dup = NetlinkDpif::create("kt-life").unwrap_err();
    assert_eq!(dup.errno, libc::EEXIST, "{dup}");

    // Opening renegotiates but keeps the datapath.
    let mut again = NetlinkDpif::open("kt-life").unwrap();
    assert_eq!(again.dp_ifindex(), dp.0.dp_ifindex());
    again.destroy().unwrap();
    let gone = NetlinkDpif::open("kt-life").unwrap_err();
    assert_eq!(gone.errno, libc::ENODEV, "{gone}");
    assert!(!NetlinkDpif::enumerate()
        .unwrap()
        .contains(&"kt-life".to_string()));
}

#[test]
fn ports_add_query_dump_delete() {
    if !kernel_available() {
        return;
    }
    ip(&["link add ktp0 type veth peer name ktp1"]);
    let mut dp = TestDp(NetlinkDpif::create("kt-ports").unwrap());
    let veth =
        dp.0.port_add(&PortSpec {
            name: "ktp0".into(),
            port_type: "system".into(),
            ..PortSpec::default()
        })
        .unwrap();
    assert_eq!(veth, 1);
    let internal =
        dp.0.port_add(&PortSpec {
            name: "ktint".into(),
            port_type: "internal".into(),
            port_no: Some(7),
            ..PortSpec::default()
        })
        .unwrap();
    assert_eq!(internal, 7);

    let p = dp.0.port_query_by_name("ktp0").unwrap();
    assert_eq!((p.port_no, p.port_type.as_str()), (1, "system"));
    let p = dp.0.port_query_by_number(7).unwrap();
    assert_eq!(
        (p.name.as_str(), p.port_type.as_str()),
        ("ktint", "internal")
    );
    let local = dp.0.port_query_by_number(0).unwrap();
    assert_eq!(
        (local.name.as_str(), local.port_type.as_str()),
        ("kt-ports", "internal")
    );
    let mut names: Vec<_> =
        dp.0.port_dump()
            .unwrap()
            .into_iter()
            .map(|p| (p.port_no, p.name))
            .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            (0, "kt-ports".into()),
            (1, "ktp0".into()),
            (7, "ktint".into())
        ]
    );

    // Errors: no such device, port number taken, no such port.
    let e =
        dp.0.port_add(&PortSpec {
            name: "nosuchdev".into(),
            port_type: "system".into(),
            ..PortSpec::default()
        })
        .unwrap_err();
    assert_eq!(e.errno, libc::ENODEV, "{e}");
    let e =
        dp.0.port_add(&PortSpec {
            name: "ktint2".into(),
            port_type: "internal".into(),
            port_no: Some(7),
            ..PortSpec::default()
        })
        .unwrap_err();
    assert_eq!(e.errno, libc::EBUSY, "{e}");
    assert_eq!(
        dp.0.port_query_by_name("nosuchdev").unwrap_err().errno,
        libc::ENODEV
    );
    assert_eq!(dp.0.port_del(42).unwrap_err().errno, libc::ENODEV);

    dp.0.port_del(7).unwrap();
    assert_eq!(
        dp.0.port_query_by_number(7).unwrap_err().errno,
        libc::ENODEV
    );
    drop(dp);
    ip(&["link del ktp0"]);
}

#[test]
fn flows_put_get_dump_delete_and_execute() {
    if !kernel_available() {
        return;
    }
    ip(&[
        "link add ktf0 type veth peer name ktf1",
        "link set ktf0 up",
        "link set ktf1 up",
    ]);
    let mut dp = TestDp(NetlinkDpif::create("kt-flows").unwrap());
    let port =
        dp.0.port_add(&PortSpec {
            name: "ktf0".into(),
            port_type: "system".into(),
            ..PortSpec::default()
        })
        .unwrap();
    let key = key_for(0, 0x88b5);
    let mask = exact_mask();
    let actions = output(port);
    let ufid = 0x1234_5678_9abc_def0_0fed_cba9_8765_4321u128;
    let create = PutFlags {
        create: true,
        ..PutFlags::default()
    };
    let put = FlowPut {
        flags: create,
        key: &key,
        mask: &mask,
        actions: &actions,
        ufid: Some(ufid),
    };
    assert_eq!(dp.0.flow_put(&put).unwrap(), None);
    let e = dp.0.flow_put(&put).unwrap_err();
    assert_eq!(e.errno, libc::EEXIST, "{e}");

    let got = dp.0.flow_get(FlowId::Ufid(ufid)).unwrap();
    assert_eq!(got.ufid, Some(ufid));
    assert_eq!(got.actions, actions);
    let got_key = Attrs::parse(&got.key).unwrap();
    assert_eq!(
        got_key.u32(OVS_KEY_ATTR_IN_PORT, "in_port").unwrap(),
        Some(0)
    );
    assert_eq!(got_key.get(KEY_ETHERTYPE), Some(&[0x88, 0xb5][..]));
    assert_eq!(dp.0.stats().unwrap().n_flows, 1);

    // Modify: new actions (drop), statistics kept.
    let modify = FlowPut {
        flags: PutFlags {
            modify: true,
            ..PutFlags::default()
        },
        actions: &[],
        ..put.clone()
    };
    dp.0.flow_put(&modify).unwrap();
    assert!(dp
        .0
        .flow_get(FlowId::Ufid(ufid))
        .unwrap()
        .actions
        .is_empty());
    // Create-or-modify of an existing flow modifies it.
    let upsert = FlowPut {
        flags: PutFlags {
            create: true,
            modify: true,
            ..PutFlags::default()
        },
        ..put.clone()
    };
    dp.0.flow_put(&upsert).unwrap();
    assert_eq!(dp.0.flow_get(FlowId::Ufid(ufid)).unwrap().actions, actions);
    // Modify-only of a missing flow: ENOENT.
    let missing_key = key_for(0, 0x88b7);
    let e =
        dp.0.flow_put(&FlowPut {
            key: &missing_key,
            ufid: None,
            ..modify.clone()
        })
        .unwrap_err();
    assert_eq!(e.errno, libc::ENOENT, "{e}");

    // A second flow, exact-match (no mask) and without UFID, found by key.
    let key2 = key_for(port, 0x88b6);
    dp.0.flow_put(&FlowPut {
        flags: create,
        key: &key2,
        mask: &[],
        actions: &actions,
        ufid: None,
    })
    .unwrap();
    let by_key = dp.0.flow_get(FlowId::Key(&key2)).unwrap();
    assert_eq!(by_key.actions, actions);
    assert_eq!(by_key.ufid, None);
    let dump = dp.0.flow_dump().unwrap();
    assert_eq!(dump.len(), 2);
    assert!(dump.iter().any(|f| f.ufid == Some(ufid)));
    // The terse dump: UFIDs and statistics, the flow without a UFID left
    // out (the kernel still sends its key).
    let stats = dump.iter().find(|f| f.ufid == Some(ufid)).unwrap().stats;
    assert_eq!(dp.0.flow_dump_stats().unwrap(), vec![(ufid, stats)]);
    dp.0.flow_del(FlowId::Key(&key2)).unwrap();
    assert_eq!(dp.0.flow_dump().unwrap().len(), 1);

    // Execute a packet out of the veth: its tx counter moves.
    let before =
        dp.0.vport_get(port)
            .unwrap()
            .stats
            .unwrap_or_default()
            .tx_packets;
    let pkt = frame(0x88b5);
    dp.0.execute(&Execute {
        packet: &pkt,
        key: &key_for(0, 0x88b5),
        actions: &actions,
        probe: false,
        mru: 0,
    })
    .unwrap();
    let after =
        dp.0.vport_get(port)
            .unwrap()
            .stats
            .unwrap_or_default()
            .tx_packets;
    assert_eq!(after, before + 1);

    // Errors: an invalid flow (no key) comes back with the kernel's text.
    let e =
        dp.0.flow_put(&FlowPut {
            flags: create,
            key: &[],
            mask: &[],
            actions: &actions,
            ufid: None,
        })
        .unwrap_err();
    assert_eq!(e.errno, libc::EINVAL, "{e}");

    dp.0.flow_del(FlowId::Ufid(ufid)).unwrap();
    assert_eq!(
        dp.0.flow_get(FlowId::Ufid(ufid)).unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(
        dp.0.flow_del(FlowId::Ufid(ufid)).unwrap_err().errno,
        libc::ENOENT
    );
    dp.0.flow_flush().unwrap();
    assert!(dp.0.flow_dump().unwrap().is_empty());
    drop(dp);
    ip(&["link del ktf0"]);
}

/// Sends traffic into `peer` (ARP for an address nobody has), so that it
/// arrives on the datapath port at the other end of the veth.
fn poke(peer: &str, addr: &str) {
    let _ = Command::new("ping")
        .args(["-c", "1", "-W", "1", "-I", peer, addr])
        .output();
}

/// The next MISS upcall of an ARP frame from `port` (other traffic, such
/// as IPv6 neighbour discovery of the fresh links, is skipped).
fn wait_miss(sock: &mut UpcallSocket, port: u32) -> crate::Upcall {
    for _ in 0..50 {
        match sock.recv(Some(Duration::from_secs(2))).unwrap() {
            Some(up) => {
                let key = Attrs::parse(&up.key).unwrap();
                if up.kind == UpcallKind::Miss
                    && key.u32(OVS_KEY_ATTR_IN_PORT, "in_port").unwrap() == Some(port)
                    && key.get(KEY_ETHERTYPE) == Some(&[0x08, 0x06][..])
                {
                    return up;
                }
            }
            None => panic!("no MISS upcall from port {port}"),
        }
    }
    panic!("no ARP MISS upcall from port {port} among 50 upcalls");
}

#[test]
fn upcalls_per_cpu_and_per_vport() {
    if !kernel_available() {
        return;
    }
    ip(&[
        "link add ktu0 type veth peer name ktu1",
        "link set ktu0 up",
        "link set ktu1 up",
        "addr add 10.99.0.1/24 dev ktu1",
    ]);
    let mut dp = TestDp(NetlinkDpif::create("kt-upcall").unwrap());
    let port =
        dp.0.port_add(&PortSpec {
            name: "ktu0".into(),
            port_type: "system".into(),
            ..PortSpec::default()
        })
        .unwrap();
    let mut handler = UpcallSocket::new().unwrap();

    // Per-CPU dispatch.
    dp.0.set_upcall_pids_per_cpu(&[handler.pid()]).unwrap();
    assert_eq!(dp.0.dispatch_mode(), DispatchMode::PerCpu);
    poke("ktu1", "10.99.0.2");
    let up = wait_miss(&mut handler, port);
    assert!(up.packet.len() >= 42, "an ARP frame: {:?}", up.packet);
    assert_eq!(up.packet.get(12..14), Some(&[0x08, 0x06][..]));

    // Per-vport dispatch, to another handler.
    let mut handler2 = UpcallSocket::new().unwrap();
    dp.0.set_upcall_pids_per_vport(&[handler2.pid()]).unwrap();
    assert_eq!(dp.0.dispatch_mode(), DispatchMode::PerVport);
    assert_eq!(
        dp.0.vport_get(port).unwrap().upcall_pids,
        vec![handler2.pid()]
    );
    poke("ktu1", "10.99.0.3");
    wait_miss(&mut handler2, port);

    // An ACTION upcall with userdata, from an executed packet.
    let mut w = AttrWriter::new();
    let nest = w.begin_nested(ACTION_USERSPACE);
    w.put_u32(USERSPACE_PID, handler.pid());
    w.put(USERSPACE_USERDATA, b"cookie42");
    w.end_nested(nest);
    let actions = w.finish().unwrap();
    let pkt = frame(0x88b5);
    dp.0.execute(&Execute {
        packet: &pkt,
        key: &key_for(port, 0x88b5),
        actions: &actions,
        probe: false,
        mru: 0,
    })
    .unwrap();
    let up = loop {
        let up = handler
            .recv(Some(Duration::from_secs(2)))
            .unwrap()
            .expect("no ACTION upcall");
        if up.kind == UpcallKind::Action {
            break up;
        }
    };
    assert_eq!(up.packet, pkt);
    assert_eq!(up.userdata.as_deref(), Some(&b"cookie42"[..]));
    drop(dp);
    ip(&["link del ktu0"]);
}

#[test]
fn port_changes_are_announced() {
    if !kernel_available() {
        return;
    }
    let mut watcher = PortWatcher::new().unwrap();
    let mut dp = TestDp(NetlinkDpif::create("kt-notify").unwrap());
    let port =
        dp.0.port_add(&PortSpec {
            name: "ktn0".into(),
            port_type: "internal".into(),
            ..PortSpec::default()
        })
        .unwrap();
    dp.0.port_del(port).unwrap();
    let mut seen = Vec::new();
    while let Some(change) = watcher.recv(Some(Duration::from_secs(2))).unwrap() {
        if change.port.name == "ktn0" {
            seen.push((change.kind, change.port.port_no, change.port.dp_ifindex));
        }
        if seen.len() == 2 {
            break;
        }
    }
    let ifindex = dp.0.dp_ifindex();
    assert_eq!(
        seen,
        vec![
            (PortChangeKind::Added, port, ifindex),
            (PortChangeKind::Deleted, port, ifindex)
        ]
    );
}

fn rx_packets(dev: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/statistics/rx_packets"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn installed_flow_forwards_between_veths() {
    if !kernel_available() {
        return;
    }
    // ktw1 -- ktw0 [dp port a]   [dp port b] ktw2 -- ktw3
    ip(&[
        "link add ktw0 type veth peer name ktw1",
        "link add ktw2 type veth peer name ktw3",
        "link set ktw0 up",
        "link set ktw1 up",
        "link set ktw2 up",
        "link set ktw3 up",
        "addr add 10.98.0.1/24 dev ktw1",
    ]);
    let mut dp = TestDp(NetlinkDpif::create("kt-fwd").unwrap());
    let add = |dp: &mut TestDp, name: &str| {
        dp.0.port_add(&PortSpec {
            name: name.into(),
            port_type: "system".into(),
            ..PortSpec::default()
        })
        .unwrap()
    };
    let a = add(&mut dp, "ktw0");
    let b = add(&mut dp, "ktw2");

    // Every ARP frame from port a goes out of port b.
    const KEY_ARP: u16 = 13;
    let mut key = AttrWriter::new();
    key.put_u32(OVS_KEY_ATTR_IN_PORT, a);
    key.put(KEY_ETHERNET, &[0; 12]);
    key.put(KEY_ETHERTYPE, &0x0806u16.to_be_bytes());
    key.put(KEY_ARP, &[0; 24]);
    let key = key.finish().unwrap();
    let mut mask = AttrWriter::new();
    mask.put_u32(OVS_KEY_ATTR_IN_PORT, u32::MAX);
    mask.put(KEY_ETHERNET, &[0; 12]);
    mask.put(KEY_ETHERTYPE, &[0xff, 0xff]);
    mask.put(KEY_ARP, &[0; 24]);
    let mask = mask.finish().unwrap();
    let ufid = 0xf00d_u128;
    dp.0.flow_put(&FlowPut {
        flags: PutFlags {
            create: true,
            ..PutFlags::default()
        },
        key: &key,
        mask: &mask,
        actions: &output(b),
        ufid: Some(ufid),
    })
    .unwrap();

    let before = rx_packets("ktw3");
    poke("ktw1", "10.98.0.2");
    let after = rx_packets("ktw3");
    assert!(after > before, "nothing reached ktw3 ({before} -> {after})");
    let flow = dp.0.flow_get(FlowId::Ufid(ufid)).unwrap();
    assert!(flow.stats.n_packets >= 1, "{:?}", flow.stats);
    assert!(flow.stats.used_ms > 0);
    let stats = dp.0.stats().unwrap();
    assert!(stats.n_hit >= 1, "{stats:?}");
    // The final counters, at least those read before (ARP may retry).
    let final_stats = dp.0.flow_del(FlowId::Ufid(ufid)).unwrap();
    assert!(
        final_stats.n_packets >= flow.stats.n_packets,
        "{final_stats:?}"
    );
    drop(dp);
    ip(&["link del ktw0", "link del ktw2"]);
}

#[test]
fn kernel_errors_carry_extended_ack_text() {
    if !kernel_available() {
        return;
    }
    // A name longer than IFNAMSIZ fails the family's attribute policy; the
    // kernel says why in the extended ack.
    let e = NetlinkDpif::create("a-name-far-too-long-for-a-netdev").unwrap_err();
    eprintln!("kernel said: {e}");
    assert_eq!(e.errno, libc::EINVAL, "{e}");
    assert!(
        e.message.starts_with("Invalid argument ("),
        "no ext ack text: {e}"
    );
}

#[test]
fn flows_in_batches() {
    if !kernel_available() {
        return;
    }
    let mut dp = TestDp(NetlinkDpif::create("kt-batch").unwrap());
    let keys: Vec<Vec<u8>> = (0..300u16).map(|i| key_for(0, 0x9000 + i)).collect();
    let mask = exact_mask();
    let actions = output(0);
    let create = PutFlags {
        create: true,
        ..PutFlags::default()
    };
    let puts: Vec<FlowPut<'_>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| FlowPut {
            flags: create,
            key: k,
            mask: &mask,
            actions: &actions,
            ufid: Some(0xba7c_0000 + i as u128),
        })
        .collect();
    let results = dp.0.flow_put_batch(&puts);
    assert_eq!(results.len(), 300);
    assert!(
        results.iter().all(|r| r == &Ok(None)),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert_eq!(dp.0.flow_dump().unwrap().len(), 300);
    assert_eq!(dp.0.stats().unwrap().n_flows, 300);

    // Again: every one exists already; one bad flow in the middle fails
    // alone.
    let mut again = puts.clone();
    again[150].key = &[];
    let results = dp.0.flow_put_batch(&again);
    assert_eq!(results[150].as_ref().unwrap_err().errno, libc::EINVAL);
    assert!(results
        .iter()
        .enumerate()
        .all(|(i, r)| i == 150 || r.as_ref().unwrap_err().errno == libc::EEXIST));

    let ids: Vec<FlowId<'_>> = (0..300)
        .map(|i| FlowId::Ufid(0xba7c_0000 + i as u128))
        .collect();
    let results = dp.0.flow_del_batch(&ids);
    assert!(results.iter().all(Result::is_ok));
    assert!(dp.0.flow_dump().unwrap().is_empty());
    let results = dp.0.flow_del_batch(&ids[..3]);
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap_err().errno == libc::ENOENT));
}

#[test]
fn meters_set_get_delete_and_count() {
    if !kernel_available() {
        return;
    }
    use super::{MeterBand, MeterConfig};
    const ACTION_METER: u16 = 19;
    let mut dp = TestDp(NetlinkDpif::create("kt-meter").unwrap());
    let f = dp.0.meter_features().unwrap();
    assert!(f.max_meters > 0 && f.max_bands >= 1, "{f:?}");
    assert_ne!(f.band_types & (1 << 1), 0, "drop bands: {f:?}");

    let config = MeterConfig {
        kbps: false,
        bands: vec![MeterBand {
            rate: 1000,
            burst: 1000,
        }],
    };
    dp.0.meter_set(5, &config).unwrap();
    let stats = dp.0.meter_get(5).unwrap();
    assert_eq!((stats.packets, stats.bands.len()), (0, 1));

    // Two packets through meter 5 (then dropped: no output action).
    let mut w = AttrWriter::new();
    w.put_u32(ACTION_METER, 5);
    let actions = w.finish().unwrap();
    let pkt = frame(0x88b5);
    for _ in 0..2 {
        dp.0.execute(&Execute {
            packet: &pkt,
            key: &key_for(0, 0x88b5),
            actions: &actions,
            probe: false,
            mru: 0,
        })
        .unwrap();
    }
    let stats = dp.0.meter_get(5).unwrap();
    assert_eq!((stats.packets, stats.bytes), (2, 2 * pkt.len() as u64));

    let last = dp.0.meter_del(5).unwrap();
    assert_eq!(last.packets, 2);
    assert_eq!(dp.0.meter_get(5).unwrap_err().errno, libc::ENOENT);
}
