//! Numbers of the Open vSwitch generic netlink families, as
//! `<linux/openvswitch.h>` defines them. Only what this provider sends or
//! reads; the flow key and action attributes belong to `odp`.

/// `struct ovs_header`: every message of the four families starts with the
/// datapath's ifindex (0 when the datapath is named by OVS_DP_ATTR_NAME).
pub const OVS_HEADER_LEN: usize = 4;

pub mod family {
    pub const DATAPATH: &str = "ovs_datapath";
    pub const VPORT: &str = "ovs_vport";
    pub const FLOW: &str = "ovs_flow";
    pub const PACKET: &str = "ovs_packet";
    /// The multicast group of port changes (in the `ovs_vport` family).
    pub const VPORT_MCGROUP: &str = "ovs_vport";

    pub const DATAPATH_VERSION: u8 = 2;
    pub const VPORT_VERSION: u8 = 1;
    pub const FLOW_VERSION: u8 = 1;
    pub const PACKET_VERSION: u8 = 1;
}

/// Commands shared by `ovs_datapath`, `ovs_vport` and `ovs_flow`.
pub mod cmd {
    pub const NEW: u8 = 1;
    pub const DEL: u8 = 2;
    pub const GET: u8 = 3;
    pub const SET: u8 = 4;
}

pub mod dp_attr {
    pub const NAME: u16 = 1;
    pub const UPCALL_PID: u16 = 2;
    pub const STATS: u16 = 3;
    pub const MEGAFLOW_STATS: u16 = 4;
    pub const USER_FEATURES: u16 = 5;
    pub const MASKS_CACHE_SIZE: u16 = 7;
    pub const PER_CPU_PIDS: u16 = 8;
}

/// OVS_DP_F_*: user features of a datapath.
pub mod dp_feature {
    pub const UNALIGNED: u32 = 1 << 0;
    pub const VPORT_PIDS: u32 = 1 << 1;
    pub const TC_RECIRC_SHARING: u32 = 1 << 2;
    pub const DISPATCH_UPCALL_PER_CPU: u32 = 1 << 3;
    /// A bit no kernel knows: a kernel that accepts it does not check
    /// features at all (how Open vSwitch probes for that).
    pub const PROBE_UNSUPPORTED: u32 = 1 << 31;
}

pub mod vport_attr {
    pub const PORT_NO: u16 = 1;
    pub const TYPE: u16 = 2;
    pub const NAME: u16 = 3;
    pub const OPTIONS: u16 = 4;
    pub const UPCALL_PID: u16 = 5;
    pub const STATS: u16 = 6;
    pub const IFINDEX: u16 = 8;
    pub const NETNSID: u16 = 9;
}

pub mod vport_type {
    pub const NETDEV: u32 = 1;
    pub const INTERNAL: u32 = 2;
    pub const GRE: u32 = 3;
    pub const VXLAN: u32 = 4;
    pub const GENEVE: u32 = 5;
}

/// OVS_TUNNEL_ATTR_*: the options of a tunnel vport.
pub mod tunnel_attr {
    pub const DST_PORT: u16 = 1;
}

pub mod flow_attr {
    pub const KEY: u16 = 1;
    pub const ACTIONS: u16 = 2;
    pub const STATS: u16 = 3;
    pub const TCP_FLAGS: u16 = 4;
    pub const USED: u16 = 5;
    pub const CLEAR: u16 = 6;
    pub const MASK: u16 = 7;
    pub const PROBE: u16 = 8;
    pub const UFID: u16 = 9;
    pub const UFID_FLAGS: u16 = 10;
}

pub mod ufid_flags {
    pub const OMIT_KEY: u32 = 1 << 0;
    pub const OMIT_MASK: u32 = 1 << 1;
    pub const OMIT_ACTIONS: u32 = 1 << 2;
}

pub mod packet_cmd {
    pub const MISS: u8 = 1;
    pub const ACTION: u8 = 2;
    pub const EXECUTE: u8 = 3;
}

pub mod packet_attr {
    pub const PACKET: u16 = 1;
    pub const KEY: u16 = 2;
    pub const ACTIONS: u16 = 3;
    pub const USERDATA: u16 = 4;
    pub const EGRESS_TUN_KEY: u16 = 5;
    pub const PROBE: u16 = 7;
    pub const MRU: u16 = 8;
    pub const LEN: u16 = 9;
    pub const HASH: u16 = 10;
}

/// The `ovs_ct_limit` family.
pub mod ct_limit {
    pub const FAMILY: &str = "ovs_ct_limit";
    pub const VERSION: u8 = 1;
    pub const CMD_SET: u8 = 1;
    pub const CMD_DEL: u8 = 2;
    pub const CMD_GET: u8 = 3;
    /// An array of `struct ovs_zone_limit`.
    pub const ATTR_ZONE_LIMIT: u16 = 1;
    /// The zone id that stands for the default limit.
    pub const DEFAULT_ZONE: i32 = -1;
}

/// The `ovs_meter` family.
pub mod meter {
    pub const FAMILY: &str = "ovs_meter";
    pub const VERSION: u8 = 1;
    pub const CMD_FEATURES: u8 = 1;
    pub const CMD_SET: u8 = 2;
    pub const CMD_DEL: u8 = 3;
    pub const CMD_GET: u8 = 4;
    pub const ATTR_ID: u16 = 1;
    pub const ATTR_KBPS: u16 = 2;
    pub const ATTR_STATS: u16 = 3;
    pub const ATTR_BANDS: u16 = 4;
    pub const ATTR_MAX_METERS: u16 = 7;
    pub const ATTR_MAX_BANDS: u16 = 8;
    pub const BAND_ATTR_TYPE: u16 = 1;
    pub const BAND_ATTR_RATE: u16 = 2;
    pub const BAND_ATTR_BURST: u16 = 3;
    pub const BAND_ATTR_STATS: u16 = 4;
    pub const BAND_TYPE_DROP: u32 = 1;
}

/// Netlink numbers the crates do not name.
pub mod nl {
    /// NLMSGERR_ATTR_MSG: the extended ack's text.
    pub const NLMSGERR_ATTR_MSG: u16 = 1;
    /// NLMSGERR_ATTR_OFFS: offset of the offending attribute.
    pub const NLMSGERR_ATTR_OFFS: u16 = 2;
    /// NLM_F_CAPPED: the error carries only the request's header.
    pub const NLM_F_CAPPED: u16 = 0x100;
    /// NLM_F_ACK_TLVS: extended ack attributes follow.
    pub const NLM_F_ACK_TLVS: u16 = 0x200;
    pub const NLMSG_HDRLEN: usize = 16;
    pub const GENL_HDRLEN: usize = 4;
}

/// OVS_KEY_ATTR_IN_PORT: the one key attribute this provider writes itself
/// (a packet's input port).
pub const OVS_KEY_ATTR_IN_PORT: u16 = 3;
