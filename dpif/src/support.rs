//! What a datapath supports, as Open vSwitch reports it: the Datapath
//! table's `capabilities` column and `ovs-appctl dpif/show-dp-features`.
//!
//! Stock learns these by probing its datapath; each ferrovs provider
//! states them ([`crate::Dpif::support`]), and a feature counts only when
//! the datapath does it *and* ferrovs's translation uses it as stock's
//! does: a controller or ovn-controller that reads `true` will rely on
//! it.

/// The features, in the two groups and the order stock prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// Masked data in `set` actions (OVS_ACTION_ATTR_SET_MASKED).
    pub masked_set_action: bool,
    /// `tnl_push` and `tnl_pop` actions (userspace tunnels).
    pub tnl_push_pop: bool,
    /// Flows identified by UFID.
    pub ufid: bool,
    /// OVS_ACTION_ATTR_TRUNC.
    pub trunc: bool,
    /// OVS_ACTION_ATTR_CLONE.
    pub clone: bool,
    /// How deep `sample` actions may nest.
    pub sample_nesting: usize,
    /// OVS_CT_ATTR_EVENTMASK in `ct`.
    pub ct_eventmask: bool,
    /// OVS_ACTION_ATTR_CT_CLEAR.
    pub ct_clear: bool,
    /// The highest `hash` algorithm (OVS_HASH_ALG_*).
    pub max_hash_alg: usize,
    /// OVS_ACTION_ATTR_CHECK_PKT_LEN.
    pub check_pkt_len: bool,
    /// OVS_CT_ATTR_TIMEOUT (zone timeout policies).
    pub ct_timeout: bool,
    /// OVS_ACTION_ATTR_DROP.
    pub explicit_drop_action: bool,
    /// OVS_ACTION_ATTR_LB_OUTPUT (balance-tcp bonds).
    pub lb_output_action: bool,
    /// SNAT to the all-zero address (keep the source unless it clashes).
    pub ct_zero_snat: bool,
    /// OVS_ACTION_ATTR_ADD_MPLS.
    pub add_mpls: bool,
    /// VLAN headers a flow key carries.
    pub max_vlan_headers: usize,
    /// MPLS label stack entries a flow key carries.
    pub max_mpls_depth: usize,
    /// Recirculation (`recirc_id` in keys, `recirc` actions).
    pub recirc: bool,
    /// The conntrack key fields.
    pub ct_state: bool,
    pub ct_zone: bool,
    pub ct_mark: bool,
    pub ct_label: bool,
    /// The NAT bits of ct_state.
    pub ct_state_nat: bool,
    /// The original direction's tuple (ct_nw_src, ..., ct_tp_dst).
    pub ct_orig_tuple: bool,
    pub ct_orig_tuple6: bool,
    /// The IPv6 ND extension fields (nd_reserved, nd_options_type).
    pub nd_ext: bool,
    /// Whether a bridge's connections can be flushed over OpenFlow
    /// (NXT_CT_FLUSH, NXT_CT_FLUSH_ZONE). Stock flushes at the dpif level
    /// and reports it for every datapath; it is not among the features
    /// `dpif/show-dp-features` prints.
    pub ct_flush: bool,
}

impl Support {
    /// What both of ferrovs's datapaths report, each then changing what
    /// differs (tunnel push/pop, the hash algorithm, the original
    /// direction's tuple). Features translation never uses are missing
    /// whatever the datapath has: it makes no `sample` (no sFlow, IPFIX
    /// or OpenFlow sample), `add_mpls` (nor `encap`), `lb_output` (no
    /// balance-tcp bonds) or explicit `drop` actions (an empty list
    /// drops), no event masks or timeout policies in `ct`, and reads no
    /// ND extension fields nor the IPv6 original tuple. `ct_flush` is
    /// what OVN takes it for, a 5-tuple flush, which ferrovs refuses.
    pub const FERROVS: Support = Support {
        masked_set_action: true,
        tnl_push_pop: false,
        ufid: true,
        // Made for mirrors' snaplen.
        trunc: true,
        clone: true,
        sample_nesting: 0,
        ct_eventmask: false,
        ct_clear: true,
        max_hash_alg: 0,
        // check_pkt_larger; the kernel has it since Linux 5.2 (not
        // probed, like trunc and clone).
        check_pkt_len: true,
        ct_timeout: false,
        explicit_drop_action: false,
        lb_output_action: false,
        // SNAT without an address keeps the source.
        ct_zero_snat: true,
        add_mpls: false,
        // Two tags, always: ferrovs has no other_config:vlan-limit
        // (stock's default limit is one).
        max_vlan_headers: 2,
        max_mpls_depth: 3,
        recirc: true,
        ct_state: true,
        ct_zone: true,
        ct_mark: true,
        ct_label: true,
        ct_state_nat: true,
        ct_orig_tuple: false,
        ct_orig_tuple6: false,
        nd_ext: false,
        ct_flush: false,
    };
}

enum Value {
    Bool(bool),
    Size(usize),
}

impl Support {
    /// Each feature's `capabilities` key, `dpif/show-dp-features` title
    /// (none for ct_flush) and value, in stock's order.
    fn fields(&self) -> [(&'static str, Option<&'static str>, Value); 27] {
        use Value::{Bool, Size};
        [
            (
                "masked_set_action",
                Some("Masked set action"),
                Bool(self.masked_set_action),
            ),
            (
                "tnl_push_pop",
                Some("Tunnel push pop"),
                Bool(self.tnl_push_pop),
            ),
            ("ufid", Some("Ufid"), Bool(self.ufid)),
            ("trunc", Some("Truncate action"), Bool(self.trunc)),
            ("clone", Some("Clone action"), Bool(self.clone)),
            (
                "sample_nesting",
                Some("Sample nesting"),
                Size(self.sample_nesting),
            ),
            (
                "ct_eventmask",
                Some("Conntrack eventmask"),
                Bool(self.ct_eventmask),
            ),
            ("ct_clear", Some("Conntrack clear"), Bool(self.ct_clear)),
            (
                "max_hash_alg",
                Some("Max dp_hash algorithm"),
                Size(self.max_hash_alg),
            ),
            (
                "check_pkt_len",
                Some("Check pkt length action"),
                Bool(self.check_pkt_len),
            ),
            (
                "ct_timeout",
                Some("Conntrack timeout policy"),
                Bool(self.ct_timeout),
            ),
            (
                "explicit_drop_action",
                Some("Explicit Drop action"),
                Bool(self.explicit_drop_action),
            ),
            (
                "lb_output_action",
                Some("Optimized Balance TCP mode"),
                Bool(self.lb_output_action),
            ),
            (
                "ct_zero_snat",
                Some("Conntrack all-zero IP SNAT"),
                Bool(self.ct_zero_snat),
            ),
            ("add_mpls", Some("MPLS Label add"), Bool(self.add_mpls)),
            (
                "max_vlan_headers",
                Some("Max VLAN headers"),
                Size(self.max_vlan_headers),
            ),
            (
                "max_mpls_depth",
                Some("Max MPLS depth"),
                Size(self.max_mpls_depth),
            ),
            ("recirc", Some("Recirc"), Bool(self.recirc)),
            ("ct_state", Some("CT state"), Bool(self.ct_state)),
            ("ct_zone", Some("CT zone"), Bool(self.ct_zone)),
            ("ct_mark", Some("CT mark"), Bool(self.ct_mark)),
            ("ct_label", Some("CT label"), Bool(self.ct_label)),
            (
                "ct_state_nat",
                Some("CT state NAT"),
                Bool(self.ct_state_nat),
            ),
            (
                "ct_orig_tuple",
                Some("CT orig tuple"),
                Bool(self.ct_orig_tuple),
            ),
            (
                "ct_orig_tuple6",
                Some("CT orig tuple for IPv6"),
                Bool(self.ct_orig_tuple6),
            ),
            ("nd_ext", Some("IPv6 ND Extension"), Bool(self.nd_ext)),
            ("ct_flush", None, Bool(self.ct_flush)),
        ]
    }

    /// The Datapath table's `capabilities`: every key stock writes, a
    /// number or `true`/`false` (`sample_nesting` is `true` when
    /// sampling nests at all, as stock writes it).
    pub fn capabilities(&self) -> Vec<(&'static str, String)> {
        self.fields()
            .into_iter()
            .map(|(key, _, v)| {
                let text = match v {
                    Value::Bool(b) => b.to_string(),
                    Value::Size(n) if key == "sample_nesting" => (n > 0).to_string(),
                    Value::Size(n) => n.to_string(),
                };
                (key, text)
            })
            .collect()
    }

    /// `ovs-appctl dpif/show-dp-features`: a `Title: Yes|No|N` line per
    /// feature.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for (_, title, v) in self.fields() {
            let Some(title) = title else { continue };
            let text = match v {
                Value::Bool(true) => "Yes".to_string(),
                Value::Bool(false) => "No".to_string(),
                Value::Size(n) => n.to_string(),
            };
            out.push_str(&format!("{title}: {text}\n"));
        }
        out
    }
}
