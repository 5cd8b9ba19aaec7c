//! ferrovs-ofproto: bridges as OpenFlow switches.
//!
//! See `shared/DESIGN.md`: the OpenFlow wire protocol, the classifier, the
//! flow tables and connections, and translation into datapath actions.

pub mod classifier;
pub mod openflow;
pub mod service;
pub mod switch;
pub use service::{
    versions_from_protocols, BridgeConfig, ControllerConfig, ControllerStatus, FailMode,
    OfprotoService,
};
pub use switch::{PortInfo, PortStats, PortStatsSource};
pub mod connmgr;
