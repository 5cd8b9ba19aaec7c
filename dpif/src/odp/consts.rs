//! Attribute numbers of `<linux/openvswitch.h>`.
//!
//! Numbers below `__OVS_*_MAX` of the Linux 6.1 header are what the kernel
//! takes. A few numbers are used only between ferrovs and its userspace
//! datapath (marked below); they never go to the kernel.

// enum ovs_key_attr
pub const OVS_KEY_ATTR_UNSPEC: u16 = 0;
pub const OVS_KEY_ATTR_ENCAP: u16 = 1;
pub const OVS_KEY_ATTR_PRIORITY: u16 = 2;
pub const OVS_KEY_ATTR_IN_PORT: u16 = 3;
pub const OVS_KEY_ATTR_ETHERNET: u16 = 4;
pub const OVS_KEY_ATTR_VLAN: u16 = 5;
pub const OVS_KEY_ATTR_ETHERTYPE: u16 = 6;
pub const OVS_KEY_ATTR_IPV4: u16 = 7;
pub const OVS_KEY_ATTR_IPV6: u16 = 8;
pub const OVS_KEY_ATTR_TCP: u16 = 9;
pub const OVS_KEY_ATTR_UDP: u16 = 10;
pub const OVS_KEY_ATTR_ICMP: u16 = 11;
pub const OVS_KEY_ATTR_ICMPV6: u16 = 12;
pub const OVS_KEY_ATTR_ARP: u16 = 13;
pub const OVS_KEY_ATTR_ND: u16 = 14;
pub const OVS_KEY_ATTR_SKB_MARK: u16 = 15;
pub const OVS_KEY_ATTR_TUNNEL: u16 = 16;
pub const OVS_KEY_ATTR_SCTP: u16 = 17;
pub const OVS_KEY_ATTR_TCP_FLAGS: u16 = 18;
pub const OVS_KEY_ATTR_DP_HASH: u16 = 19;
pub const OVS_KEY_ATTR_RECIRC_ID: u16 = 20;
pub const OVS_KEY_ATTR_MPLS: u16 = 21;
pub const OVS_KEY_ATTR_CT_STATE: u16 = 22;
pub const OVS_KEY_ATTR_CT_ZONE: u16 = 23;
pub const OVS_KEY_ATTR_CT_MARK: u16 = 24;
pub const OVS_KEY_ATTR_CT_LABELS: u16 = 25;
pub const OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4: u16 = 26;
pub const OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6: u16 = 27;
pub const OVS_KEY_ATTR_NSH: u16 = 28;
pub const OVS_KEY_ATTR_PACKET_TYPE: u16 = 29;
pub const OVS_KEY_ATTR_ND_EXTENSIONS: u16 = 30;
/// Kernel-internal (`struct ip_tunnel_info`); never valid from userspace.
pub const OVS_KEY_ATTR_TUNNEL_INFO: u16 = 31;
pub const OVS_KEY_ATTR_IPV6_EXTHDRS: u16 = 32;

// enum ovs_tunnel_key_attr
pub const OVS_TUNNEL_KEY_ATTR_ID: u16 = 0;
pub const OVS_TUNNEL_KEY_ATTR_IPV4_SRC: u16 = 1;
pub const OVS_TUNNEL_KEY_ATTR_IPV4_DST: u16 = 2;
pub const OVS_TUNNEL_KEY_ATTR_TOS: u16 = 3;
pub const OVS_TUNNEL_KEY_ATTR_TTL: u16 = 4;
pub const OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT: u16 = 5;
pub const OVS_TUNNEL_KEY_ATTR_CSUM: u16 = 6;
pub const OVS_TUNNEL_KEY_ATTR_OAM: u16 = 7;
pub const OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS: u16 = 8;
pub const OVS_TUNNEL_KEY_ATTR_TP_SRC: u16 = 9;
pub const OVS_TUNNEL_KEY_ATTR_TP_DST: u16 = 10;
pub const OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS: u16 = 11;
pub const OVS_TUNNEL_KEY_ATTR_IPV6_SRC: u16 = 12;
pub const OVS_TUNNEL_KEY_ATTR_IPV6_DST: u16 = 13;
pub const OVS_TUNNEL_KEY_ATTR_PAD: u16 = 14;
pub const OVS_TUNNEL_KEY_ATTR_ERSPAN_OPTS: u16 = 15;
pub const OVS_TUNNEL_KEY_ATTR_IPV4_INFO_BRIDGE: u16 = 16;
/// Userspace datapath only (Open vSwitch's GTP-U metadata).
pub const OVS_TUNNEL_KEY_ATTR_GTPU_OPTS: u16 = 17;

// enum ovs_vxlan_ext
pub const OVS_VXLAN_EXT_GBP: u16 = 1;

// enum ovs_nsh_key_attr
pub const OVS_NSH_KEY_ATTR_BASE: u16 = 1;
pub const OVS_NSH_KEY_ATTR_MD1: u16 = 2;
pub const OVS_NSH_KEY_ATTR_MD2: u16 = 3;

// enum ovs_action_attr
pub const OVS_ACTION_ATTR_UNSPEC: u16 = 0;
pub const OVS_ACTION_ATTR_OUTPUT: u16 = 1;
pub const OVS_ACTION_ATTR_USERSPACE: u16 = 2;
pub const OVS_ACTION_ATTR_SET: u16 = 3;
pub const OVS_ACTION_ATTR_PUSH_VLAN: u16 = 4;
pub const OVS_ACTION_ATTR_POP_VLAN: u16 = 5;
pub const OVS_ACTION_ATTR_SAMPLE: u16 = 6;
pub const OVS_ACTION_ATTR_RECIRC: u16 = 7;
pub const OVS_ACTION_ATTR_HASH: u16 = 8;
pub const OVS_ACTION_ATTR_PUSH_MPLS: u16 = 9;
pub const OVS_ACTION_ATTR_POP_MPLS: u16 = 10;
pub const OVS_ACTION_ATTR_SET_MASKED: u16 = 11;
pub const OVS_ACTION_ATTR_CT: u16 = 12;
pub const OVS_ACTION_ATTR_TRUNC: u16 = 13;
pub const OVS_ACTION_ATTR_PUSH_ETH: u16 = 14;
pub const OVS_ACTION_ATTR_POP_ETH: u16 = 15;
pub const OVS_ACTION_ATTR_CT_CLEAR: u16 = 16;
pub const OVS_ACTION_ATTR_PUSH_NSH: u16 = 17;
pub const OVS_ACTION_ATTR_POP_NSH: u16 = 18;
pub const OVS_ACTION_ATTR_METER: u16 = 19;
pub const OVS_ACTION_ATTR_CLONE: u16 = 20;
pub const OVS_ACTION_ATTR_CHECK_PKT_LEN: u16 = 21;
pub const OVS_ACTION_ATTR_ADD_MPLS: u16 = 22;
pub const OVS_ACTION_ATTR_DEC_TTL: u16 = 23;
/// Explicit drop with a reason (Linux 6.4 and later).
pub const OVS_ACTION_ATTR_DROP: u16 = 24;
/// Userspace datapath only: push a tunnel header (`tnl_push(...)`).
pub const OVS_ACTION_ATTR_TUNNEL_PUSH: u16 = 1000;
/// Userspace datapath only: pop a tunnel header (`tnl_pop(port)`).
pub const OVS_ACTION_ATTR_TUNNEL_POP: u16 = 1001;
/// Userspace datapath only: output to a bond (`lb_output(id)`).
pub const OVS_ACTION_ATTR_LB_OUTPUT: u16 = 1002;

// enum ovs_userspace_attr
pub const OVS_USERSPACE_ATTR_PID: u16 = 1;
pub const OVS_USERSPACE_ATTR_USERDATA: u16 = 2;
pub const OVS_USERSPACE_ATTR_EGRESS_TUN_PORT: u16 = 3;
pub const OVS_USERSPACE_ATTR_ACTIONS: u16 = 4;

// enum ovs_sample_attr
pub const OVS_SAMPLE_ATTR_PROBABILITY: u16 = 1;
pub const OVS_SAMPLE_ATTR_ACTIONS: u16 = 2;

// enum ovs_ct_attr
pub const OVS_CT_ATTR_COMMIT: u16 = 1;
pub const OVS_CT_ATTR_ZONE: u16 = 2;
pub const OVS_CT_ATTR_MARK: u16 = 3;
pub const OVS_CT_ATTR_LABELS: u16 = 4;
pub const OVS_CT_ATTR_HELPER: u16 = 5;
pub const OVS_CT_ATTR_NAT: u16 = 6;
pub const OVS_CT_ATTR_FORCE_COMMIT: u16 = 7;
pub const OVS_CT_ATTR_EVENTMASK: u16 = 8;
pub const OVS_CT_ATTR_TIMEOUT: u16 = 9;

// enum ovs_nat_attr
pub const OVS_NAT_ATTR_SRC: u16 = 1;
pub const OVS_NAT_ATTR_DST: u16 = 2;
pub const OVS_NAT_ATTR_IP_MIN: u16 = 3;
pub const OVS_NAT_ATTR_IP_MAX: u16 = 4;
pub const OVS_NAT_ATTR_PROTO_MIN: u16 = 5;
pub const OVS_NAT_ATTR_PROTO_MAX: u16 = 6;
pub const OVS_NAT_ATTR_PERSISTENT: u16 = 7;
pub const OVS_NAT_ATTR_PROTO_HASH: u16 = 8;
pub const OVS_NAT_ATTR_PROTO_RANDOM: u16 = 9;

// enum ovs_check_pkt_len_attr
pub const OVS_CHECK_PKT_LEN_ATTR_PKT_LEN: u16 = 1;
pub const OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_GREATER: u16 = 2;
pub const OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_LESS_EQUAL: u16 = 3;

// enum ovs_dec_ttl_attr
pub const OVS_DEC_TTL_ATTR_ACTION: u16 = 1;

// enum ovs_hash_alg
pub const OVS_HASH_ALG_L4: u32 = 0;
pub const OVS_HASH_ALG_SYM_L4: u32 = 1;

// enum ovs_frag_type
pub const OVS_FRAG_TYPE_NONE: u8 = 0;
pub const OVS_FRAG_TYPE_FIRST: u8 = 1;
pub const OVS_FRAG_TYPE_LATER: u8 = 2;

// OVS_KEY_ATTR_CT_STATE bits
pub const OVS_CS_F_NEW: u32 = 0x01;
pub const OVS_CS_F_ESTABLISHED: u32 = 0x02;
pub const OVS_CS_F_RELATED: u32 = 0x04;
pub const OVS_CS_F_REPLY_DIR: u32 = 0x08;
pub const OVS_CS_F_INVALID: u32 = 0x10;
pub const OVS_CS_F_TRACKED: u32 = 0x20;
pub const OVS_CS_F_SRC_NAT: u32 = 0x40;
pub const OVS_CS_F_DST_NAT: u32 = 0x80;
