//! A minimal OpenFlow switch for differential tests: serves bridge `br0`
//! on `<dir>/br0.mgmt` with two ports (1 "p1", 2 "p2") and LOCAL, like a
//! stock bridge with two dummy ports (no traffic).
//!
//! Usage: ofproto-testd DIR [PROTOCOLS]   (PROTOCOLS like OpenFlow10,OpenFlow13)
//!
//! Reads commands from stdin, one per line, and exits when stdin closes:
//!   controllers [secure] [TARGET[,probe=SECS]]...  set the controllers
//!   add-port N NAME     add a port (MAC 02:00:00:00:00:N)
//!   del-port N          remove a port
//!   dump-flows PATH     write the bridge/dump-flows text to PATH
//!   table-name N NAME   name table N (Flow_Table name)
//!   packet-in PORT HEX REASON TABLE COOKIE MAX_LEN
//!                       raise a packet-in as translation would

use ferrovs_ofproto::openflow::fields::{id, Match};
use ferrovs_ofproto::{
    versions_from_protocols, BridgeConfig, ControllerConfig, FailMode, OfprotoService, PacketIn,
    PortInfo, PortStats,
};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn port(n: u16, name: &str, mac: [u8; 6]) -> PortInfo {
    PortInfo::live(n, name, mac)
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
    let mut ports = vec![
        port(1, "p1", [2, 0, 0, 0, 0, 1]),
        port(2, "p2", [2, 0, 0, 0, 0, 2]),
        port(0xfffe, "br0", [2, 0, 0, 0, 0, 0xfe]),
    ];
    svc.set_ports("br0", ports.clone());
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
    svc.set_snoop("br0", Some(dir.join("br0.snoop")))?;
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["controllers", rest @ ..] => {
                let mut mode = FailMode::Standalone;
                let mut ctls = Vec::new();
                for w in rest {
                    if *w == "secure" {
                        mode = FailMode::Secure;
                        continue;
                    }
                    let mut parts = w.split(",probe=");
                    let mut c = ControllerConfig::new(parts.next().unwrap_or_default());
                    if let Some(p) = parts.next().and_then(|p| p.parse::<u64>().ok()) {
                        c.inactivity_probe = Duration::from_secs(p);
                    }
                    ctls.push(c);
                }
                for e in svc.set_controllers("br0", ctls, mode) {
                    eprintln!("controller: {e}");
                }
            }
            ["add-port", n, name] => {
                // Like a dummy device: added with its link down, then up.
                if let Ok(n) = n.parse::<u16>() {
                    let mut p = port(n, name, [2, 0, 0, 0, 0, n as u8]);
                    p.state = 0;
                    ports.push(p);
                    svc.set_ports("br0", ports.clone());
                    if let Some(p) = ports.last_mut() {
                        p.state = 4;
                    }
                    svc.set_ports("br0", ports.clone());
                }
            }
            ["del-port", n] => {
                if let Ok(n) = n.parse::<u16>() {
                    ports.retain(|p| p.ofp_port != n);
                    svc.set_ports("br0", ports.clone());
                }
            }
            ["table-name", n, name] => {
                if let Ok(n) = n.parse::<u8>() {
                    svc.set_table_name("br0", n, name);
                }
            }
            ["dump-flows", path] => {
                let text = svc.dump_flows("br0").unwrap_or_default();
                let tmp = format!("{path}.tmp");
                if std::fs::write(&tmp, text)
                    .and_then(|_| std::fs::rename(&tmp, path))
                    .is_err()
                {
                    eprintln!("cannot write {path}");
                }
            }
            ["packet-in", port, hex, reason, table, cookie, max_len] => {
                let packet: Vec<u8> = (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                let mut metadata = Match::catchall();
                metadata.set_exact(id::IN_PORT, port.parse::<u16>().unwrap_or(0) as u128);
                svc.packet_in(
                    "br0",
                    PacketIn {
                        reason: reason.parse().unwrap_or(1),
                        table_id: table.parse().unwrap_or(0),
                        cookie: u64::from_str_radix(cookie.trim_start_matches("0x"), 16)
                            .unwrap_or(0),
                        metadata,
                        packet,
                        max_len: max_len.parse().unwrap_or(u16::MAX),
                        userdata: Vec::new(),
                        controller_id: 0,
                        continuation: None,
                    },
                );
            }
            [] => {}
            _ => eprintln!("unknown command: {line}"),
        }
    }
    svc.shutdown();
    Ok(())
}
