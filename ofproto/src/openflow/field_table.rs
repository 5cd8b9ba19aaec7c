// Generated from the field descriptions in Open vSwitch's
// include/openvswitch/meta-flow.h (facts: names, widths, maskability,
// prerequisites and NXM/OXM code points). No generator is kept in this
// tree: the table was produced once; tun_metadata0..63, which differ
// only by their number, are built by the macro below instead of being
// spelled out 64 times.
use super::fields::{FieldDef, Hdr, Prereq};

/// The fields of meta-flow.h in its order, up to nsh_ttl; tun_metadata0..63
/// follow them in [`FIELDS`].
const FIELDS_BEFORE_TUN_METADATA: [FieldDef; id::TUN_METADATA0] = [
    FieldDef {
        name: "dp_hash",
        header_name: "NXM_NX_DP_HASH",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: true,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 35,
                since_of: 0,
            },
            Hdr {
                class: 0xffff,
                exp: 0x2320,
                field: 0,
                since_of: 0,
            },
        ],
    },
    FieldDef {
        name: "recirc_id",
        header_name: "NXM_NX_RECIRC_ID",
        alias: false,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 36,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "packet_type",
        header_name: "OXM_OF_PACKET_TYPE",
        alias: false,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 44,
            since_of: 6,
        }],
    },
    FieldDef {
        name: "conj_id",
        header_name: "NXM_NX_CONJ_ID",
        alias: false,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 37,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_id",
        header_name: "NXM_NX_TUN_ID",
        alias: false,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 16,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 38,
                since_of: 4,
            },
        ],
    },
    FieldDef {
        name: "tun_src",
        header_name: "NXM_NX_TUN_IPV4_SRC",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 31,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_dst",
        header_name: "NXM_NX_TUN_IPV4_DST",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 32,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_ipv6_src",
        header_name: "NXM_NX_TUN_IPV6_SRC",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 109,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_ipv6_dst",
        header_name: "NXM_NX_TUN_IPV6_DST",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 110,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_flags",
        header_name: "NXM_NX_TUN_FLAGS",
        alias: false,
        width: 2,
        bits: 1,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 104,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_ttl",
        header_name: "",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[],
    },
    FieldDef {
        name: "tun_tos",
        header_name: "",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[],
    },
    FieldDef {
        name: "tun_gbp_id",
        header_name: "NXM_NX_TUN_GBP_ID",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 38,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_gbp_flags",
        header_name: "NXM_NX_TUN_GBP_FLAGS",
        alias: false,
        width: 1,
        bits: 8,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 39,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_erspan_idx",
        header_name: "NXOXM_ET_ERSPAN_IDX",
        alias: false,
        width: 4,
        bits: 20,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x2320,
            field: 11,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_erspan_ver",
        header_name: "NXOXM_ET_ERSPAN_VER",
        alias: false,
        width: 1,
        bits: 4,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x2320,
            field: 12,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_erspan_dir",
        header_name: "NXOXM_ET_ERSPAN_DIR",
        alias: false,
        width: 1,
        bits: 1,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x2320,
            field: 13,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_erspan_hwid",
        header_name: "NXOXM_ET_ERSPAN_HWID",
        alias: false,
        width: 1,
        bits: 6,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x2320,
            field: 14,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_gtpu_flags",
        header_name: "NXOXM_ET_GTPU_FLAGS",
        alias: false,
        width: 1,
        bits: 8,
        maskable: true,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x2320,
            field: 15,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "tun_gtpu_msgtype",
        header_name: "NXOXM_ET_GTPU_MSGTYPE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: true,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x2320,
            field: 16,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "metadata",
        header_name: "OXM_OF_METADATA",
        alias: false,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 2,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "in_port",
        header_name: "NXM_OF_IN_PORT",
        alias: false,
        width: 2,
        bits: 16,
        maskable: false,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0000,
            exp: 0x0,
            field: 0,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "in_port_oxm",
        header_name: "OXM_OF_IN_PORT",
        alias: true,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 0,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "actset_output",
        header_name: "ONFOXM_ET_ACTSET_OUTPUT",
        alias: false,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[
            Hdr {
                class: 0xffff,
                exp: 0x4f4e4600,
                field: 43,
                since_of: 4,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 43,
                since_of: 6,
            },
        ],
    },
    FieldDef {
        name: "skb_priority",
        header_name: "",
        alias: false,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[],
    },
    FieldDef {
        name: "pkt_mark",
        header_name: "NXM_NX_PKT_MARK",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 33,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_state",
        header_name: "NXM_NX_CT_STATE",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 105,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_zone",
        header_name: "NXM_NX_CT_ZONE",
        alias: false,
        width: 2,
        bits: 16,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 106,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_mark",
        header_name: "NXM_NX_CT_MARK",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 107,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_label",
        header_name: "NXM_NX_CT_LABEL",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 108,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_nw_proto",
        header_name: "NXM_NX_CT_NW_PROTO",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 119,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_nw_src",
        header_name: "NXM_NX_CT_NW_SRC",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 120,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_nw_dst",
        header_name: "NXM_NX_CT_NW_DST",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 121,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_ipv6_src",
        header_name: "NXM_NX_CT_IPV6_SRC",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 122,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_ipv6_dst",
        header_name: "NXM_NX_CT_IPV6_DST",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 123,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_tp_src",
        header_name: "NXM_NX_CT_TP_SRC",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 124,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ct_tp_dst",
        header_name: "NXM_NX_CT_TP_DST",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Ct,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 125,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg0",
        header_name: "NXM_NX_REG0",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 0,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg1",
        header_name: "NXM_NX_REG1",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 1,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg2",
        header_name: "NXM_NX_REG2",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 2,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg3",
        header_name: "NXM_NX_REG3",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 3,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg4",
        header_name: "NXM_NX_REG4",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 4,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg5",
        header_name: "NXM_NX_REG5",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 5,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg6",
        header_name: "NXM_NX_REG6",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 6,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg7",
        header_name: "NXM_NX_REG7",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 7,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg8",
        header_name: "NXM_NX_REG8",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 8,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg9",
        header_name: "NXM_NX_REG9",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 9,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg10",
        header_name: "NXM_NX_REG10",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 10,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg11",
        header_name: "NXM_NX_REG11",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 11,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg12",
        header_name: "NXM_NX_REG12",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 12,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg13",
        header_name: "NXM_NX_REG13",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 13,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg14",
        header_name: "NXM_NX_REG14",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 14,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "reg15",
        header_name: "NXM_NX_REG15",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 15,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "xreg0",
        header_name: "OXM_OF_PKT_REG0",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 0,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg1",
        header_name: "OXM_OF_PKT_REG1",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 1,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg2",
        header_name: "OXM_OF_PKT_REG2",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 2,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg3",
        header_name: "OXM_OF_PKT_REG3",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 3,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg4",
        header_name: "OXM_OF_PKT_REG4",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 4,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg5",
        header_name: "OXM_OF_PKT_REG5",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 5,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg6",
        header_name: "OXM_OF_PKT_REG6",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 6,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xreg7",
        header_name: "OXM_OF_PKT_REG7",
        alias: true,
        width: 8,
        bits: 64,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8001,
            exp: 0x0,
            field: 7,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "xxreg0",
        header_name: "NXM_NX_XXREG0",
        alias: true,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 111,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "xxreg1",
        header_name: "NXM_NX_XXREG1",
        alias: true,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 112,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "xxreg2",
        header_name: "NXM_NX_XXREG2",
        alias: true,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 113,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "xxreg3",
        header_name: "NXM_NX_XXREG3",
        alias: true,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 114,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "eth_src",
        header_name: "NXM_OF_ETH_SRC",
        alias: false,
        width: 6,
        bits: 48,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 2,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 4,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "eth_dst",
        header_name: "NXM_OF_ETH_DST",
        alias: false,
        width: 6,
        bits: 48,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 1,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 3,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "eth_type",
        header_name: "NXM_OF_ETH_TYPE",
        alias: false,
        width: 2,
        bits: 16,
        maskable: false,
        prereq: Prereq::None,
        read_only: true,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 3,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 5,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "vlan_tci",
        header_name: "NXM_OF_VLAN_TCI",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x0000,
            exp: 0x0,
            field: 4,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "dl_vlan",
        header_name: "",
        alias: true,
        width: 2,
        bits: 12,
        maskable: false,
        prereq: Prereq::None,
        read_only: false,
        headers: &[],
    },
    FieldDef {
        name: "vlan_vid",
        header_name: "OXM_OF_VLAN_VID",
        alias: true,
        width: 2,
        bits: 12,
        maskable: true,
        prereq: Prereq::None,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 6,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "dl_vlan_pcp",
        header_name: "",
        alias: true,
        width: 1,
        bits: 3,
        maskable: false,
        prereq: Prereq::None,
        read_only: false,
        headers: &[],
    },
    FieldDef {
        name: "vlan_pcp",
        header_name: "OXM_OF_VLAN_PCP",
        alias: true,
        width: 1,
        bits: 3,
        maskable: false,
        prereq: Prereq::VlanVid,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 7,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "mpls_label",
        header_name: "OXM_OF_MPLS_LABEL",
        alias: false,
        width: 4,
        bits: 20,
        maskable: false,
        prereq: Prereq::Mpls,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 34,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "mpls_tc",
        header_name: "OXM_OF_MPLS_TC",
        alias: false,
        width: 1,
        bits: 3,
        maskable: false,
        prereq: Prereq::Mpls,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 35,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "mpls_bos",
        header_name: "OXM_OF_MPLS_BOS",
        alias: false,
        width: 1,
        bits: 1,
        maskable: false,
        prereq: Prereq::Mpls,
        read_only: true,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 36,
            since_of: 4,
        }],
    },
    FieldDef {
        name: "mpls_ttl",
        header_name: "NXM_NX_MPLS_TTL",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Mpls,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 30,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ip_src",
        header_name: "NXM_OF_IP_SRC",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Ip4,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 7,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 11,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "ip_dst",
        header_name: "NXM_OF_IP_DST",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Ip4,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 8,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 12,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "ipv6_src",
        header_name: "NXM_NX_IPV6_SRC",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::Ip6,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 19,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 26,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "ipv6_dst",
        header_name: "NXM_NX_IPV6_DST",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::Ip6,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 20,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 27,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "ipv6_label",
        header_name: "NXM_NX_IPV6_LABEL",
        alias: false,
        width: 4,
        bits: 20,
        maskable: true,
        prereq: Prereq::Ip6,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 27,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 28,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nw_proto",
        header_name: "NXM_OF_IP_PROTO",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::IpAny,
        read_only: true,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 6,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 10,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nw_tos",
        header_name: "NXM_OF_IP_TOS",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::IpAny,
        read_only: false,
        headers: &[Hdr {
            class: 0x0000,
            exp: 0x0,
            field: 5,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ip_dscp",
        header_name: "OXM_OF_IP_DSCP",
        alias: true,
        width: 1,
        bits: 6,
        maskable: false,
        prereq: Prereq::IpAny,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 8,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "nw_ecn",
        header_name: "NXM_NX_IP_ECN",
        alias: false,
        width: 1,
        bits: 2,
        maskable: false,
        prereq: Prereq::IpAny,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 28,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 9,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nw_ttl",
        header_name: "NXM_NX_IP_TTL",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::IpAny,
        read_only: false,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 29,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "ip_frag",
        header_name: "NXM_NX_IP_FRAG",
        alias: false,
        width: 1,
        bits: 2,
        maskable: true,
        prereq: Prereq::IpAny,
        read_only: true,
        headers: &[Hdr {
            class: 0x0001,
            exp: 0x0,
            field: 26,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "arp_op",
        header_name: "NXM_OF_ARP_OP",
        alias: false,
        width: 2,
        bits: 16,
        maskable: false,
        prereq: Prereq::Arp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 15,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 21,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "arp_spa",
        header_name: "NXM_OF_ARP_SPA",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Arp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 16,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 22,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "arp_tpa",
        header_name: "NXM_OF_ARP_TPA",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Arp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 17,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 23,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "arp_sha",
        header_name: "NXM_NX_ARP_SHA",
        alias: false,
        width: 6,
        bits: 48,
        maskable: true,
        prereq: Prereq::Arp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 17,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 24,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "arp_tha",
        header_name: "NXM_NX_ARP_THA",
        alias: false,
        width: 6,
        bits: 48,
        maskable: true,
        prereq: Prereq::Arp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 18,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 25,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "tcp_src",
        header_name: "NXM_OF_TCP_SRC",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Tcp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 9,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 13,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "tcp_dst",
        header_name: "NXM_OF_TCP_DST",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Tcp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 10,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 14,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "tcp_flags",
        header_name: "NXM_NX_TCP_FLAGS",
        alias: false,
        width: 2,
        bits: 12,
        maskable: true,
        prereq: Prereq::Tcp,
        read_only: true,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 34,
                since_of: 0,
            },
            Hdr {
                class: 0xffff,
                exp: 0x4f4e4600,
                field: 42,
                since_of: 4,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 42,
                since_of: 6,
            },
        ],
    },
    FieldDef {
        name: "udp_src",
        header_name: "NXM_OF_UDP_SRC",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Udp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 11,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 15,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "udp_dst",
        header_name: "NXM_OF_UDP_DST",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Udp,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 12,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 16,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "sctp_src",
        header_name: "OXM_OF_SCTP_SRC",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Sctp,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 17,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "sctp_dst",
        header_name: "OXM_OF_SCTP_DST",
        alias: false,
        width: 2,
        bits: 16,
        maskable: true,
        prereq: Prereq::Sctp,
        read_only: false,
        headers: &[Hdr {
            class: 0x8000,
            exp: 0x0,
            field: 18,
            since_of: 3,
        }],
    },
    FieldDef {
        name: "icmp_type",
        header_name: "NXM_OF_ICMP_TYPE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Icmp4,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 13,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 19,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "icmp_code",
        header_name: "NXM_OF_ICMP_CODE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Icmp4,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0000,
                exp: 0x0,
                field: 14,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 20,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "icmpv6_type",
        header_name: "NXM_NX_ICMPV6_TYPE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Icmp6,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 21,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 29,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "icmpv6_code",
        header_name: "NXM_NX_ICMPV6_CODE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Icmp6,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 22,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 30,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nd_target",
        header_name: "NXM_NX_ND_TARGET",
        alias: false,
        width: 16,
        bits: 128,
        maskable: true,
        prereq: Prereq::Nd,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 23,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 31,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nd_sll",
        header_name: "NXM_NX_ND_SLL",
        alias: false,
        width: 6,
        bits: 48,
        maskable: true,
        prereq: Prereq::NdSolicit,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 24,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 32,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nd_tll",
        header_name: "NXM_NX_ND_TLL",
        alias: false,
        width: 6,
        bits: 48,
        maskable: true,
        prereq: Prereq::NdAdvert,
        read_only: false,
        headers: &[
            Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 25,
                since_of: 0,
            },
            Hdr {
                class: 0x8000,
                exp: 0x0,
                field: 33,
                since_of: 3,
            },
        ],
    },
    FieldDef {
        name: "nd_reserved",
        header_name: "ERICOXM_OF_ICMPV6_ND_RESERVED",
        alias: false,
        width: 4,
        bits: 32,
        maskable: false,
        prereq: Prereq::Nd,
        read_only: false,
        headers: &[Hdr {
            class: 0x1000,
            exp: 0x0,
            field: 1,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nd_options_type",
        header_name: "ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Nd,
        read_only: false,
        headers: &[Hdr {
            class: 0x1000,
            exp: 0x0,
            field: 2,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_flags",
        header_name: "NXOXM_NSH_FLAGS",
        alias: false,
        width: 1,
        bits: 8,
        maskable: true,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 1,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_mdtype",
        header_name: "NXOXM_NSH_MDTYPE",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Nsh,
        read_only: true,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 2,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_np",
        header_name: "NXOXM_NSH_NP",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Nsh,
        read_only: true,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 3,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_spi",
        header_name: "NXOXM_NSH_SPI",
        alias: false,
        width: 4,
        bits: 24,
        maskable: false,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 4,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_si",
        header_name: "NXOXM_NSH_SI",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 5,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_c1",
        header_name: "NXOXM_NSH_C1",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 6,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_c2",
        header_name: "NXOXM_NSH_C2",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 7,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_c3",
        header_name: "NXOXM_NSH_C3",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 8,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_c4",
        header_name: "NXOXM_NSH_C4",
        alias: false,
        width: 4,
        bits: 32,
        maskable: true,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 9,
            since_of: 0,
        }],
    },
    FieldDef {
        name: "nsh_ttl",
        header_name: "NXOXM_NSH_TTL",
        alias: false,
        width: 1,
        bits: 8,
        maskable: false,
        prereq: Prereq::Nsh,
        read_only: false,
        headers: &[Hdr {
            class: 0xffff,
            exp: 0x5ad650,
            field: 10,
            since_of: 0,
        }],
    },
];

/// tun_metadata0..63 (NXM class 1, fields 40..103): alike but for the
/// number, so written once here rather than 64 times in the table above.
macro_rules! tun_metadata_fields {
    ($($n:literal)*) => {
        [$(FieldDef {
            name: concat!("tun_metadata", $n),
            header_name: concat!("NXM_NX_TUN_METADATA", $n),
            alias: false,
            width: 4,
            bits: 32,
            maskable: true,
            prereq: Prereq::None,
            read_only: false,
            headers: &[Hdr {
                class: 0x0001,
                exp: 0x0,
                field: 40 + $n,
                since_of: 0,
            }],
        },)*]
    };
}

const TUN_METADATA_FIELDS: [FieldDef; 64] = tun_metadata_fields!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// Every field, indexed by [`id`]: the fields above, then tun_metadata0..63.
pub const FIELDS: &[FieldDef] = &all_fields();

const fn all_fields() -> [FieldDef; id::TUN_METADATA63 + 1] {
    let mut all = [FIELDS_BEFORE_TUN_METADATA[0]; id::TUN_METADATA63 + 1];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < id::TUN_METADATA0 {
            FIELDS_BEFORE_TUN_METADATA[i]
        } else {
            TUN_METADATA_FIELDS[i - id::TUN_METADATA0]
        };
        i += 1;
    }
    all
}

/// Index of each field in [`FIELDS`].
#[allow(dead_code)]
pub mod id {
    pub const DP_HASH: usize = 0;
    pub const RECIRC_ID: usize = 1;
    pub const PACKET_TYPE: usize = 2;
    pub const CONJ_ID: usize = 3;
    pub const TUN_ID: usize = 4;
    pub const TUN_SRC: usize = 5;
    pub const TUN_DST: usize = 6;
    pub const TUN_IPV6_SRC: usize = 7;
    pub const TUN_IPV6_DST: usize = 8;
    pub const TUN_FLAGS: usize = 9;
    pub const TUN_TTL: usize = 10;
    pub const TUN_TOS: usize = 11;
    pub const TUN_GBP_ID: usize = 12;
    pub const TUN_GBP_FLAGS: usize = 13;
    pub const TUN_ERSPAN_IDX: usize = 14;
    pub const TUN_ERSPAN_VER: usize = 15;
    pub const TUN_ERSPAN_DIR: usize = 16;
    pub const TUN_ERSPAN_HWID: usize = 17;
    pub const TUN_GTPU_FLAGS: usize = 18;
    pub const TUN_GTPU_MSGTYPE: usize = 19;
    pub const METADATA: usize = 20;
    pub const IN_PORT: usize = 21;
    pub const IN_PORT_OXM: usize = 22;
    pub const ACTSET_OUTPUT: usize = 23;
    pub const SKB_PRIORITY: usize = 24;
    pub const PKT_MARK: usize = 25;
    pub const CT_STATE: usize = 26;
    pub const CT_ZONE: usize = 27;
    pub const CT_MARK: usize = 28;
    pub const CT_LABEL: usize = 29;
    pub const CT_NW_PROTO: usize = 30;
    pub const CT_NW_SRC: usize = 31;
    pub const CT_NW_DST: usize = 32;
    pub const CT_IPV6_SRC: usize = 33;
    pub const CT_IPV6_DST: usize = 34;
    pub const CT_TP_SRC: usize = 35;
    pub const CT_TP_DST: usize = 36;
    pub const REG0: usize = 37;
    pub const REG1: usize = 38;
    pub const REG2: usize = 39;
    pub const REG3: usize = 40;
    pub const REG4: usize = 41;
    pub const REG5: usize = 42;
    pub const REG6: usize = 43;
    pub const REG7: usize = 44;
    pub const REG8: usize = 45;
    pub const REG9: usize = 46;
    pub const REG10: usize = 47;
    pub const REG11: usize = 48;
    pub const REG12: usize = 49;
    pub const REG13: usize = 50;
    pub const REG14: usize = 51;
    pub const REG15: usize = 52;
    pub const XREG0: usize = 53;
    pub const XREG1: usize = 54;
    pub const XREG2: usize = 55;
    pub const XREG3: usize = 56;
    pub const XREG4: usize = 57;
    pub const XREG5: usize = 58;
    pub const XREG6: usize = 59;
    pub const XREG7: usize = 60;
    pub const XXREG0: usize = 61;
    pub const XXREG1: usize = 62;
    pub const XXREG2: usize = 63;
    pub const XXREG3: usize = 64;
    pub const ETH_SRC: usize = 65;
    pub const ETH_DST: usize = 66;
    pub const ETH_TYPE: usize = 67;
    pub const VLAN_TCI: usize = 68;
    pub const DL_VLAN: usize = 69;
    pub const VLAN_VID: usize = 70;
    pub const DL_VLAN_PCP: usize = 71;
    pub const VLAN_PCP: usize = 72;
    pub const MPLS_LABEL: usize = 73;
    pub const MPLS_TC: usize = 74;
    pub const MPLS_BOS: usize = 75;
    pub const MPLS_TTL: usize = 76;
    pub const IP_SRC: usize = 77;
    pub const IP_DST: usize = 78;
    pub const IPV6_SRC: usize = 79;
    pub const IPV6_DST: usize = 80;
    pub const IPV6_LABEL: usize = 81;
    pub const NW_PROTO: usize = 82;
    pub const NW_TOS: usize = 83;
    pub const IP_DSCP: usize = 84;
    pub const NW_ECN: usize = 85;
    pub const NW_TTL: usize = 86;
    pub const IP_FRAG: usize = 87;
    pub const ARP_OP: usize = 88;
    pub const ARP_SPA: usize = 89;
    pub const ARP_TPA: usize = 90;
    pub const ARP_SHA: usize = 91;
    pub const ARP_THA: usize = 92;
    pub const TCP_SRC: usize = 93;
    pub const TCP_DST: usize = 94;
    pub const TCP_FLAGS: usize = 95;
    pub const UDP_SRC: usize = 96;
    pub const UDP_DST: usize = 97;
    pub const SCTP_SRC: usize = 98;
    pub const SCTP_DST: usize = 99;
    pub const ICMP_TYPE: usize = 100;
    pub const ICMP_CODE: usize = 101;
    pub const ICMPV6_TYPE: usize = 102;
    pub const ICMPV6_CODE: usize = 103;
    pub const ND_TARGET: usize = 104;
    pub const ND_SLL: usize = 105;
    pub const ND_TLL: usize = 106;
    pub const ND_RESERVED: usize = 107;
    pub const ND_OPTIONS_TYPE: usize = 108;
    pub const NSH_FLAGS: usize = 109;
    pub const NSH_MDTYPE: usize = 110;
    pub const NSH_NP: usize = 111;
    pub const NSH_SPI: usize = 112;
    pub const NSH_SI: usize = 113;
    pub const NSH_C1: usize = 114;
    pub const NSH_C2: usize = 115;
    pub const NSH_C3: usize = 116;
    pub const NSH_C4: usize = 117;
    pub const NSH_TTL: usize = 118;
    /// tun_metadata0..63 (4 bytes each in the key, see fields.rs).
    pub const TUN_METADATA0: usize = 119;
    pub const TUN_METADATA63: usize = 182;
}
