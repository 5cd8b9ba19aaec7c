//! A minimal OpenFlow switch for differential tests: serves bridge `br0`
//! on `<dir>/br0.mgmt` with two ports (1 "p1", 2 "p2") and LOCAL, like a
//! stock bridge with two dummy ports (no traffic).
//!
//! Usage: ofproto-testd DIR [PROTOCOLS]   (PROTOCOLS like OpenFlow10,OpenFlow13)
//! Runs until stdin is closed.

use ferrovs_ofproto::{versions_from_protocols, BridgeConfig, OfprotoService, PortInfo, PortStats};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

fn port(n: u16, name: &str, mac: [u8; 6]) -> PortInfo {
    PortInfo {
        ofp_port: n,
        name: name.into(),
        hw_addr: mac,
        config: 0,
        state: 4,
        curr: 0,
        advertised: 0,
        supported: 0,
        peer: 0,
        curr_speed: 0,
        max_speed: 0,
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).cloned().unwrap_or_else(|| ".".into()));
    let protocols: Vec<String> = args
        .get(2)
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let svc = OfprotoService::start()?;
    svc.add_bridge(BridgeConfig {
        name: "br0".into(),
        datapath_id: 1,
        mgmt_path: dir.join("br0.mgmt"),
        versions: versions_from_protocols(&protocols),
        normal_flow: true,
    })?;
    svc.set_ports(
        "br0",
        vec![
            port(1, "p1", [2, 0, 0, 0, 0, 1]),
            port(2, "p2", [2, 0, 0, 0, 0, 2]),
            port(0xfffe, "br0", [2, 0, 0, 0, 0, 0xfe]),
        ],
    );
    // Like Open vSwitch's dummy devices without traffic: packet and byte
    // counters at zero, the others not kept.
    svc.set_port_stats_source(
        "br0",
        Arc::new(|_| {
            Some(PortStats {
                rx_packets: 0,
                tx_packets: 0,
                rx_bytes: 0,
                tx_bytes: 0,
                ..PortStats::UNKNOWN
            })
        }),
    );
    println!("ready");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    svc.shutdown();
    Ok(())
}
