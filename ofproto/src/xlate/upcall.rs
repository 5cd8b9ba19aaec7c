//! Translation for the datapath's MISS upcalls: the datapath key goes
//! through the bridge's tables (the same translation `ofproto/trace` runs)
//! and comes back as what the handler installs and executes: datapath
//! actions and a megaflow mask, both as netlink attributes.

use std::collections::HashMap;

use super::flow_text::{self, FlowKey};
use super::{be, frange, translate, Bridge};
use crate::openflow::fields::id;
use crate::switch::Switch;
use ferrovs_dpif::odp::{self, Key, KeyAttr};

/// A MISS upcall's key for one bridge.
#[derive(Debug, Clone)]
pub struct UpcallRequest {
    /// The datapath key, netlink-encoded (as the upcall carries it).
    pub key: Vec<u8>,
    /// OpenFlow port number to datapath port number.
    pub odp_ports: HashMap<u16, u32>,
    /// Whether the translation may change state (learn MACs, run learn
    /// actions): true for a packet's upcall; for a revalidation only
    /// when the flow carried packets since it was last looked at, as in
    /// Open vSwitch (a flush must not be undone by idle flows).
    pub may_learn: bool,
}

/// What the handler does with the packet and its megaflow.
#[derive(Debug, Clone)]
pub struct UpcallXlate {
    /// Datapath actions, netlink-encoded.
    pub actions: Vec<u8>,
    /// The megaflow mask, netlink-encoded; empty means an exact match on
    /// the whole key (used when the key holds headers this conversion
    /// does not know how to mask).
    pub mask: Vec<u8>,
    /// The flow must stay in userspace (no megaflow may be installed).
    pub slow: bool,
    /// The rules the translation went through, for crediting statistics
    /// ([`crate::OfprotoService::credit_stats`]).
    pub rules: Vec<super::RuleHit>,
    /// Rules the translation learned (already applied); the
    /// revalidators refresh them while the flow carries packets.
    pub learned: Vec<super::learn::Learned>,
    /// Learning added or changed rules: flows translated before may be
    /// stale.
    pub tables_changed: bool,
    /// The input ports of the translation's table lookups.
    pub in_ports: Vec<u16>,
}

/// The bridge view both `ofproto/trace` and upcalls translate with.
pub(crate) fn with_bridge<R>(
    sw: &Switch,
    odp_ports: &HashMap<u16, u32>,
    side_effects: bool,
    f: impl FnOnce(&Bridge<'_>) -> R,
) -> R {
    let misses: Vec<u32> = sw.table_cfg.iter().map(|c| c.miss).collect();
    let br = Bridge {
        name: &sw.name,
        tables: &sw.tables,
        table_miss: &misses,
        odp_ports,
        groups: &sw.groups,
        side_effects,
        describe_rules: !side_effects,
        switch: Some(sw),
    };
    f(&br)
}

/// Translates an upcall's key through `sw`.
pub fn translate_upcall(sw: &mut Switch, req: &UpcallRequest) -> Result<UpcallXlate, String> {
    let key = Key::from_nlattrs(&req.key).map_err(|e| e.message)?;
    let ofports: HashMap<u32, u16> = req.odp_ports.iter().map(|(&o, &d)| (d, o)).collect();
    let flow = flow_text::from_odp(&key, &ofports)?;
    let x = with_bridge(sw, &req.odp_ports, req.may_learn, |br| {
        let br = Bridge {
            describe_rules: false,
            ..*br
        };
        translate(&br, &flow)
    });
    let tables_changed = req.may_learn && super::learn::apply(sw, &x.learned);
    // A translation error drops the packet; the (empty) actions say so.
    let actions = odp::action::encode_actions(&x.actions).map_err(|e| e.message)?;
    let mask = match megaflow_mask(&key, &flow, &x.wc) {
        Some(m) => m.to_nlattrs().map_err(|e| e.message)?,
        None => Vec::new(),
    };
    Ok(UpcallXlate {
        actions,
        mask,
        slow: x.slow,
        rules: x.rules,
        learned: x.learned,
        tables_changed,
        in_ports: x.in_ports,
    })
}

/// The mask of `key` that the wildcards `wc` (in flow-key layout) allow;
/// `None` when the key has an attribute this does not map (the caller
/// then matches it exactly). In-port and recirculation id are always
/// exact, as every datapath flow needs.
fn megaflow_mask(key: &Key, flow: &FlowKey, wc: &FlowKey) -> Option<Key> {
    let m = |f: usize| be(&wc[frange(f)]);
    let mut out = Vec::new();
    for a in &key.attrs {
        out.push(match a {
            KeyAttr::InPort(_) => KeyAttr::InPort(u32::MAX),
            KeyAttr::RecircId(_) => KeyAttr::RecircId(u32::MAX),
            KeyAttr::Priority(_) => KeyAttr::Priority(0),
            KeyAttr::SkbMark(_) => KeyAttr::SkbMark(m(id::PKT_MARK) as u32),
            KeyAttr::DpHash(_) => KeyAttr::DpHash(m(id::DP_HASH) as u32),
            KeyAttr::CtState(_) => KeyAttr::CtState(m(id::CT_STATE) as u32),
            KeyAttr::CtZone(_) => KeyAttr::CtZone(m(id::CT_ZONE) as u16),
            KeyAttr::CtMark(_) => KeyAttr::CtMark(m(id::CT_MARK) as u32),
            KeyAttr::CtLabels(_) => KeyAttr::CtLabels(m(id::CT_LABEL)),
            KeyAttr::CtOrigTupleIpv4(_) => KeyAttr::CtOrigTupleIpv4(odp::key::CtTupleIpv4Key {
                src: (m(id::CT_NW_SRC) as u32).into(),
                dst: (m(id::CT_NW_DST) as u32).into(),
                src_port: m(id::CT_TP_SRC) as u16,
                dst_port: m(id::CT_TP_DST) as u16,
                proto: m(id::CT_NW_PROTO) as u8,
            }),
            KeyAttr::Ethernet(_) => KeyAttr::Ethernet(odp::key::EthKey {
                src: mac(m(id::ETH_SRC)),
                dst: mac(m(id::ETH_DST)),
            }),
            // The type decides how the rest is read: always exact.
            KeyAttr::Ethertype(_) => KeyAttr::Ethertype(0xffff),
            KeyAttr::Ipv4(_) => {
                let tos = (m(id::NW_TOS) as u8 & 0xfc) | (m(id::NW_ECN) as u8 & 3);
                KeyAttr::Ipv4(odp::key::Ipv4Key {
                    src: (m(id::IP_SRC) as u32).into(),
                    dst: (m(id::IP_DST) as u32).into(),
                    proto: m(id::NW_PROTO) as u8,
                    tos,
                    ttl: m(id::NW_TTL) as u8,
                    frag: if m(id::IP_FRAG) != 0 { 0xff } else { 0 },
                })
            }
            KeyAttr::Tcp(_) | KeyAttr::Udp(_) | KeyAttr::Sctp(_) => {
                let (sf, df) = match be(&flow[frange(id::NW_PROTO)]) {
                    6 => (id::TCP_SRC, id::TCP_DST),
                    17 => (id::UDP_SRC, id::UDP_DST),
                    _ => (id::SCTP_SRC, id::SCTP_DST),
                };
                let p = odp::key::PortsKey {
                    src: m(sf) as u16,
                    dst: m(df) as u16,
                };
                match a {
                    KeyAttr::Tcp(_) => KeyAttr::Tcp(p),
                    KeyAttr::Udp(_) => KeyAttr::Udp(p),
                    _ => KeyAttr::Sctp(p),
                }
            }
            KeyAttr::TcpFlags(_) => KeyAttr::TcpFlags(m(id::TCP_FLAGS) as u16),
            // The tag's bits that were looked at, and always its presence
            // (CFI); the encapsulated headers are masked as the outer.
            KeyAttr::Vlan(_) => KeyAttr::Vlan(m(id::VLAN_TCI) as u16 | 0x1000),
            KeyAttr::Encap(inner) => {
                KeyAttr::Encap(megaflow_mask(&Key::new(inner.clone()), flow, wc)?.attrs)
            }
            KeyAttr::Icmp(_) => KeyAttr::Icmp(odp::key::IcmpKey {
                icmp_type: m(id::ICMP_TYPE) as u8,
                code: m(id::ICMP_CODE) as u8,
            }),
            KeyAttr::Arp(_) => KeyAttr::Arp(odp::key::ArpKey {
                sip: (m(id::ARP_SPA) as u32).into(),
                tip: (m(id::ARP_TPA) as u32).into(),
                op: m(id::ARP_OP) as u16,
                sha: mac(m(id::ARP_SHA)),
                tha: mac(m(id::ARP_THA)),
            }),
            // IPv6, tunnels, conntrack, MPLS, ...: exact match.
            _ => return None,
        });
    }
    Some(Key::new(out))
}

/// Datapath statistics to add to the rules a flow went through.
#[derive(Debug, Clone)]
pub struct Credit {
    pub rules: Vec<super::RuleHit>,
    pub packets: u64,
    pub bytes: u64,
    /// Learned rules to refresh when there were packets.
    pub learned: Vec<super::learn::Learned>,
}

/// Adds each credit's packets and bytes to its rules (those the tables
/// still hold) and marks them used now, so idle timeouts see the traffic;
/// refreshes rules learned on the way. Returns whether learning changed
/// the tables.
pub fn credit_stats(sw: &mut Switch, credits: &[Credit]) -> bool {
    let now = std::time::Instant::now();
    let mut changed = false;
    for c in credits {
        if c.packets > 0 && !c.learned.is_empty() {
            changed |= super::learn::apply(sw, &c.learned);
        }
        for hit in &c.rules {
            let Some(cls) = sw.tables.get_mut(hit.table as usize) else {
                continue;
            };
            if let Some(rule) = cls.lookup_mut(&hit.key) {
                rule.packet_count = rule.packet_count.wrapping_add(c.packets);
                rule.byte_count = rule.byte_count.wrapping_add(c.bytes);
                if c.packets > 0 {
                    rule.used = now;
                }
            }
        }
    }
    changed
}

fn mac(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    let mut out = [0u8; 6];
    out.copy_from_slice(&b[10..16]);
    out
}
