//! ferrovs-netdev: packets and network devices.
//!
//! See `shared/DESIGN.md`: owned packet buffers with metadata
//! ([`packet`]), single-pass flow-key extraction ([`flow`]) over checked
//! header views ([`wire`]), checksums ([`csum`]) and software completion of
//! offloaded work ([`offload`]), and the device providers (system,
//! tap/internal, dummy) behind one trait ([`dev::Netdev`]).

pub mod compose;
pub mod csum;
pub mod dev;
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
