//! A userspace datapath forwarding between Linux interfaces, driven
//! through the `Dpif` trait: every port floods to every other port (a
//! two-port datapath is a cross-connect). For trying the datapath by hand
//! and for measuring it.
//!
//! Usage: netdev_fwd DPNAME IFACE... (runs until stdin closes or Ctrl-C)

use std::io::Read;

use ferrovs_dpif::netdev::{DeviceMode, NetdevDpif};
use ferrovs_dpif::{odp, Dpif, FlowPut, PortSpec, PutFlags};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((name, ifaces)) = args.split_first() else {
        eprintln!("usage: netdev_fwd DPNAME IFACE...");
        std::process::exit(2);
    };
    let mut dp = match NetdevDpif::create(name, DeviceMode::Real) {
        Ok(dp) => dp,
        Err(e) => {
            eprintln!("netdev_fwd: cannot create {name}: {e}");
            std::process::exit(1);
        }
    };
    let mut ports = Vec::new();
    for i in ifaces {
        match dp.port_add(&PortSpec {
            name: i.clone(),
            port_type: "system".into(),
            ..Default::default()
        }) {
            Ok(n) => ports.push(n),
            Err(e) => {
                eprintln!("netdev_fwd: cannot add {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    for &p in &ports {
        let outs: Vec<String> = ports
            .iter()
            .filter(|&&o| o != p)
            .map(|o| o.to_string())
            .collect();
        let actions = if outs.is_empty() {
            "drop".to_string()
        } else {
            outs.join(",")
        };
        let f = odp::parse_flow(&format!("in_port({p})"), None).expect("flow text");
        let a = odp::parse_actions(&actions, None).expect("actions text");
        if let Err(e) = dp.flow_put(&FlowPut {
            flags: PutFlags {
                create: true,
                ..Default::default()
            },
            key: &f.key,
            mask: &f.mask,
            actions: &a,
            ufid: None,
        }) {
            eprintln!("netdev_fwd: flow for port {p}: {e}");
            std::process::exit(1);
        }
    }
    eprintln!("netdev_fwd: {name} forwarding between {ifaces:?}");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    match dp.stats() {
        Ok(s) => eprintln!("netdev_fwd: {s:?} drops {:?}", dp.drop_stats()),
        Err(e) => eprintln!("netdev_fwd: stats: {e}"),
    }
}
