//! ferrovs-netdev: packets and network devices.
//!
//! See `shared/DESIGN.md`: owned packet buffers with metadata
//! ([`packet`]), single-pass flow-key extraction ([`flow`], the same
//! fields as Open vSwitch's extractor for every packet, checked against
//! `ovs-ofctl parse-pcap`) over checked header views ([`wire`]), checksums
//! ([`csum`]) and software completion of offloaded work ([`offload`]), and
//! the device providers (system, tap/internal, dummy, tunnel ports) behind
//! one trait ([`dev::Netdev`]).
//!
//! For the tunnels of the userspace datapath: header push and pop
//! ([`tunnel`]), the underlay route table ([`route`], as `ovs/route/*`)
//! and neighbour cache ([`neigh`], as `tnl/neigh/*`). For tests and
//! `netdev-dummy/*`: frames from flow keys ([`compose`], byte for byte as
//! stock's `flow_compose`) and pcap files ([`pcap`]).

pub mod compose;
pub mod csum;
pub mod dev;
pub mod fasthash;
pub mod flow;
pub mod neigh;
pub mod offload;
pub mod packet;
pub mod pcap;
pub mod route;
pub mod tunnel;
pub mod wire;

pub use dev::{Netdev, NetdevStats};
pub use flow::{extract, Extracted, FlowKey, Layers};
pub use packet::{Packet, PacketMeta};
