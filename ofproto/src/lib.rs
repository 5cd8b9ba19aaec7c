//! ferrovs-ofproto: bridges as OpenFlow switches.
//!
//! This crate speaks OpenFlow 1.0 to 1.5 (plus the Nicira and ONF
//! extensions ovs-ofctl uses) for each bridge of the daemon, keeps the
//! bridge's flow tables, groups and meters, and serves its connections.
//! See `shared/DESIGN.md` for where it sits.
//!
//! # Using it from the daemon
//!
//! [`OfprotoService`] runs one thread with a mio event loop; every method
//! is a message to that thread, so the handle can be used from anywhere.
//!
//! ```no_run
//! use ferrovs_ofproto::*;
//! use std::time::Duration;
//! let svc = OfprotoService::start()?;
//! svc.add_bridge(BridgeConfig {
//!     name: "br0".into(),
//!     datapath_id: 0x1234,
//!     mgmt_path: "/var/run/openvswitch/br0.mgmt".into(), // punix: for ovs-ofctl
//!     versions: versions_from_protocols(&[]),            // Bridge.protocols
//!     normal_flow: true,                                  // fail_mode standalone
//! })?;
//! svc.set_ports("br0", vec![PortInfo { ofp_port: 0xfffe, name: "br0".into(), ..Default::default() }]);
//! svc.set_port_stats_source("br0", std::sync::Arc::new(|_ofport| None));
//! svc.set_port_mod_hook("br0", std::sync::Arc::new(|_ofport, _config| {}));
//! svc.set_packet_out_hook("br0", std::sync::Arc::new(|_po: PacketOut| {}));
//! svc.set_snoop("br0", Some("/var/run/openvswitch/br0.snoop".into()))?;
//! svc.set_table_name("br0", 3, "classify");           // Flow_Table name
//! svc.set_datapath_id("br0", 0x5678);
//! let errors = svc.set_controllers("br0", vec![ControllerConfig::new("tcp:127.0.0.1:6653")],
//!                                  FailMode::Standalone);
//! let status = svc.controller_status("br0");  // for the Controller table
//! let text = svc.dump_flows("br0");           // for bridge/dump-flows
//! let names = svc.list_bridges();             // for ofproto/list
//! svc.remove_bridge("br0");
//! svc.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Ports: `set_ports` replaces the list; differences become port-status
//! messages; OpenFlow owns the config bits (port_mod), the daemon the
//! rest. Controllers: `tcp:`/`unix:` are connected with backoff and
//! probed with echo requests, `ptcp:`/`punix:` listen; as in stock, a
//! bridge that gains its first controller (or loses its last) has its
//! tables flushed, and a standalone bridge without controllers gets
//! `priority=0,actions=NORMAL`. Packets: PACKET_OUTs go to the packet-out
//! hook; translation raises packet-ins with `packet_in`, which are encoded
//! for each connection's version, format and async configuration. Rule
//! lookups for translation use [`classifier::Classifier::lookup`], which
//! also returns the bits the lookup examined (megaflow wildcards).
//!
//! # Layout
//! - [`openflow`]: the wire protocol: fields and matches (NXM, OXM, the
//!   OpenFlow 1.0 and 1.1 fixed matches), actions and instructions, groups,
//!   meters, errors, and the text syntax for dumps.
//! - [`classifier`]: tuple space search over masked keys, reporting the
//!   bits each lookup examined (for megaflows), with staged lookup and
//!   prefix/ports tries so that they are as few as stock's.
//! - [`switch`]: one bridge's OpenFlow state and the handling of every
//!   message a connection sends.
//! - [`xlate`]: translation of a flow through the tables into datapath
//!   actions and a megaflow mask, and the `ofproto/trace` report
//!   ([`OfprotoService::trace`] runs it on the service thread).
//! - [`connmgr`]: connection targets and socket types.
//! - [`service`]: the event loop and the API above.

pub mod classifier;
pub mod connmgr;
pub mod mac_learning;
pub mod openflow;
pub mod service;
pub mod switch;
pub mod xlate;

pub use service::{
    versions_from_protocols, BridgeConfig, ControllerConfig, ControllerStatus, FailMode,
    OfprotoService,
};
pub use switch::{
    PacketIn, PacketOut, PacketOutHook, PortInfo, PortModHook, PortStats, PortStatsSource,
    ResumeHook, TableSettings,
};
pub use switch::{PortVlan, VlanMode};
