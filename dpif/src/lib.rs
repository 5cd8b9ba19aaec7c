//! ferrovs-dpif: the datapath interface and its providers.
//!
//! One trait, [`Dpif`], several providers (the kernel module over generic
//! netlink; the userspace datapath, which with dummy devices is also the
//! dummy datapath used by tests); the callers never know which one they
//! hold.
//!
//! Flow keys, masks and actions cross this interface as netlink attribute
//! streams exactly as `<linux/openvswitch.h>` lays them out (OVS_KEY_ATTR_*,
//! OVS_ACTION_ATTR_*), the same bytes the kernel takes. That keeps the trait
//! independent of how any one layer models them; `odp` parses and prints
//! them.

pub mod flow_filter;
pub mod netdev;
pub mod netlink;
pub mod odp;
pub mod support;

use std::fmt;

/// A datapath port number (`odp_port_t`). Port 0 is the datapath's local
/// (internal) port, named after the datapath.
pub type OdpPort = u32;

/// The error of a datapath operation: an errno, as the kernel reports it,
/// plus a human-readable text (the kernel's extended ack where it gave one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpifError {
    pub errno: i32,
    pub message: String,
}

impl DpifError {
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        DpifError {
            errno,
            message: message.into(),
        }
    }

    /// An error carrying only an errno; the text is the C library's.
    pub fn from_errno(errno: i32) -> Self {
        DpifError {
            errno,
            message: std::io::Error::from_raw_os_error(errno).to_string(),
        }
    }
}

impl fmt::Display for DpifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DpifError {}

impl From<std::io::Error> for DpifError {
    fn from(e: std::io::Error) -> Self {
        DpifError::new(e.raw_os_error().unwrap_or(libc::EIO), e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, DpifError>;

/// What a caller asks for when adding a port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortSpec {
    /// Device name, e.g. `eth0`, `br0`, `vxlan_sys_4789`.
    pub name: String,
    /// The netdev type as the Interface table spells it: `system`,
    /// `internal`, `tap`, `dummy`, `vxlan`, `geneve`, `gre`, ...
    pub port_type: String,
    /// Requested port number, or `None` to let the datapath choose.
    pub port_no: Option<OdpPort>,
    /// Type-specific options (e.g. `dst_port` of a tunnel).
    pub options: Vec<(String, String)>,
}

/// A port as the datapath reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpifPort {
    pub name: String,
    pub port_type: String,
    pub port_no: OdpPort,
}

/// Datapath-wide counters (`ovs_dp_stats` plus the megaflow ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DpStats {
    pub n_hit: u64,
    pub n_missed: u64,
    pub n_lost: u64,
    pub n_flows: u64,
    pub n_mask_hit: u64,
    pub n_masks: u32,
}

/// Per-flow counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowStats {
    pub n_packets: u64,
    pub n_bytes: u64,
    /// Last use, in milliseconds of the monotonic clock; 0 if never used.
    pub used_ms: u64,
    /// TCP flags seen (OVS_FLOW_ATTR_TCP_FLAGS).
    pub tcp_flags: u16,
}

/// A 128-bit unique flow identifier (OVS_FLOW_ATTR_UFID).
pub type Ufid = u128;

/// A datapath flow: netlink-encoded key, mask and actions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DpFlow {
    pub key: Vec<u8>,
    pub mask: Vec<u8>,
    pub actions: Vec<u8>,
    pub ufid: Option<Ufid>,
    pub stats: FlowStats,
}

/// How `flow_put` treats an existing or missing flow (`enum dpif_flow_put_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PutFlags {
    /// Create the flow if it does not exist.
    pub create: bool,
    /// Modify the flow if it exists.
    pub modify: bool,
    /// Zero the statistics of a modified flow.
    pub zero_stats: bool,
}

/// A request to install or change a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPut<'a> {
    pub flags: PutFlags,
    pub key: &'a [u8],
    pub mask: &'a [u8],
    pub actions: &'a [u8],
    pub ufid: Option<Ufid>,
}

/// Which flow a get or delete names: by UFID where the datapath knows it,
/// else by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowId<'a> {
    Key(&'a [u8]),
    Ufid(Ufid),
}

/// A packet to run through a list of actions (`OVS_PACKET_CMD_EXECUTE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute<'a> {
    /// The Ethernet frame.
    pub packet: &'a [u8],
    /// Packet metadata as key attributes (in_port, tunnel, skb_mark, ...).
    pub key: &'a [u8],
    pub actions: &'a [u8],
    /// Probe only: do not log failures (used by feature probing).
    pub probe: bool,
    /// MTU to fragment to after conntrack reassembly, 0 for none.
    pub mru: u16,
}

/// Why a packet came up to userspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpcallKind {
    /// No flow matched (OVS_PACKET_CMD_MISS).
    Miss,
    /// A `userspace` action sent it (OVS_PACKET_CMD_ACTION).
    Action,
}

/// A packet sent up by the datapath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcall {
    pub kind: UpcallKind,
    /// The Ethernet frame.
    pub packet: Vec<u8>,
    /// The key the datapath extracted, netlink-encoded.
    pub key: Vec<u8>,
    /// OVS_USERSPACE_ATTR_USERDATA of the action, if any.
    pub userdata: Option<Vec<u8>>,
    /// Egress tunnel key (OVS_PACKET_ATTR_EGRESS_TUN_KEY), if any.
    pub egress_tun_key: Option<Vec<u8>>,
    /// The MRU of a reassembled packet, if any.
    pub mru: Option<u16>,
}

/// The datapath interface. Every provider implements it; everything above
/// the datapath goes through it.
pub trait Dpif: Send {
    /// The datapath's name, e.g. `ovs-system`.
    fn name(&self) -> &str;
    /// The provider's type as Bridge `datapath_type` names it: `system`,
    /// `netdev` or `dummy`.
    fn dp_type(&self) -> &str;
    /// What this datapath supports, as ferrovs uses it.
    fn support(&self) -> support::Support;
    /// Remove the datapath itself; the handle is useless afterwards.
    fn destroy(&mut self) -> Result<()>;
    fn stats(&mut self) -> Result<DpStats>;

    fn port_add(&mut self, spec: &PortSpec) -> Result<OdpPort>;
    fn port_del(&mut self, port_no: OdpPort) -> Result<()>;
    fn port_query_by_name(&mut self, name: &str) -> Result<DpifPort>;
    fn port_query_by_number(&mut self, port_no: OdpPort) -> Result<DpifPort>;
    fn port_dump(&mut self) -> Result<Vec<DpifPort>>;

    /// Install or change a flow; returns the old flow's statistics when one
    /// was modified.
    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>>;
    fn flow_get(&mut self, id: FlowId<'_>) -> Result<DpFlow>;
    /// Delete a flow; returns its final statistics.
    fn flow_del(&mut self, id: FlowId<'_>) -> Result<FlowStats>;
    fn flow_flush(&mut self) -> Result<()>;
    fn flow_dump(&mut self) -> Result<Vec<DpFlow>>;
    /// A terse dump: the UFID and statistics of every flow that has a
    /// UFID, without keys, masks or actions (what a revalidator needs
    /// when it knows the rest; the kernel's OVS_UFID_F_OMIT_* flags).
    /// Flows without a UFID are left out.
    fn flow_dump_stats(&mut self) -> Result<Vec<(Ufid, FlowStats)>> {
        Ok(self
            .flow_dump()?
            .into_iter()
            .filter_map(|f| Some((f.ufid?, f.stats)))
            .collect())
    }

    fn execute(&mut self, exec: &Execute<'_>) -> Result<()>;
}
