//! Turning header rewrites into datapath actions.
//!
//! Translation rewrites fields of the flow as actions run; the datapath
//! only needs to hear about them when the packet goes somewhere. At each
//! output, `commit` compares the flow with `base` (the headers as the
//! datapath already has them) and emits one action per header that
//! differs, in the order Open vSwitch does: Ethernet addresses, IPv4,
//! transport ports, then VLAN. A rewrite becomes a masked set covering the
//! bits the pipeline wrote or read of the changed fields (a plain set when
//! that is the whole header), and those bits join the megaflow.

use super::{be, put_be};
use crate::openflow::fields::{eth_type, id, range, KEY_LEN, VLAN_CFI};
use ferrovs_dpif::odp::key::{ArpKey, EthKey, IcmpKey, Ipv4Key, Ipv6Key, PortsKey};
use ferrovs_dpif::odp::{Action, KeyAttr};
use std::net::{Ipv4Addr, Ipv6Addr};

type Key = [u8; KEY_LEN];

fn get(k: &Key, f: usize) -> u128 {
    be(&k[range(f)])
}

/// For each field of a header: the mask to write (the consulted bits of a
/// field that changed, nothing for an unchanged one).
fn field_masks(flow: &Key, base: &Key, wc: &Key, fields: &[usize]) -> Option<Vec<u128>> {
    // Most outputs change nothing: no list to make then.
    if fields.iter().all(|&f| get(flow, f) == get(base, f)) {
        return None;
    }
    let masks: Vec<u128> = fields
        .iter()
        .map(|&f| {
            if get(flow, f) != get(base, f) {
                get(wc, f)
            } else {
                0
            }
        })
        .collect();
    Some(masks)
}

/// Copies the written fields into `base` and their mask into `wc`.
fn absorb(flow: &Key, base: &mut Key, wc: &mut Key, fields: &[usize], masks: &[u128]) {
    for (&f, &m) in fields.iter().zip(masks) {
        let v = (get(base, f) & !m) | (get(flow, f) & m);
        put_be(&mut base[range(f)], v);
        let w = get(wc, f) | m;
        put_be(&mut wc[range(f)], w);
    }
}

fn full(f: usize) -> u128 {
    let bits = range(f).len() as u32 * 8;
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn mac(v: u128) -> [u8; 6] {
    let mut m = [0u8; 6];
    put_be(&mut m, v);
    m
}

fn set_action(key: KeyAttr, mask: KeyAttr, exact: bool) -> Action {
    if exact {
        Action::Set(key)
    } else {
        Action::SetMasked { key, mask }
    }
}

/// The headers the key has no room for, of the flow and of the datapath's
/// packet: the second VLAN tag, under the outer one in `VLAN_TCI` (0 for
/// none), and the MPLS label stack entries under the top one.
#[derive(Debug, Clone, Copy, Default)]
pub struct InnerVlans {
    pub flow: u16,
    pub base: u16,
    /// Likewise the MPLS label stack entries under the top one (which is
    /// in the key), with the bits of them translation looked at.
    pub mpls: super::mpls::Deeper,
}

/// Emits the actions that bring the datapath's headers (`base`) to the
/// flow's, and widens `wc` accordingly.
pub fn commit(
    flow: &Key,
    base: &mut Key,
    wc: &mut Key,
    vlans: &mut InnerVlans,
    out: &mut Vec<Action>,
    slow: &mut bool,
) {
    let eth = [id::ETH_SRC, id::ETH_DST];
    if let Some(m) = field_masks(flow, base, wc, &eth) {
        let exact = m[0] == full(id::ETH_SRC) && m[1] == full(id::ETH_DST);
        let key = KeyAttr::Ethernet(EthKey {
            src: mac(get(flow, id::ETH_SRC) & m[0]),
            dst: mac(get(flow, id::ETH_DST) & m[1]),
        });
        let mask = KeyAttr::Ethernet(EthKey {
            src: mac(m[0]),
            dst: mac(m[1]),
        });
        out.push(set_action(key, mask, exact));
        absorb(flow, base, wc, &eth, &m);
    }
    // A label popped goes before the L3 rewrites (they are for the
    // packet under it).
    super::mpls::commit(flow, base, &mut vlans.mpls, out, true);
    let et = get(flow, id::ETH_TYPE) as u16;
    // As stock, a flow whose IP protocol is 0 is taken to have no L3
    // header to rewrite.
    if et == eth_type::IP && get(flow, id::NW_PROTO) != 0 {
        // nw_tos (DSCP) and nw_ecn share the datapath's tos byte: a change
        // of either writes the consulted bits of both.
        let ip = [id::IP_SRC, id::IP_DST, id::NW_TOS, id::NW_ECN, id::NW_TTL];
        if let Some(mut m) = field_masks(flow, base, wc, &ip) {
            if m[2] != 0 || m[3] != 0 {
                m[2] = get(wc, id::NW_TOS);
                m[3] = get(wc, id::NW_ECN);
            }
            let v = |i: usize| get(flow, ip[i]) & m[i];
            let key = KeyAttr::Ipv4(Ipv4Key {
                src: Ipv4Addr::from(v(0) as u32),
                dst: Ipv4Addr::from(v(1) as u32),
                proto: 0,
                tos: (v(2) | v(3)) as u8,
                ttl: v(4) as u8,
                frag: 0,
            });
            let mask = KeyAttr::Ipv4(Ipv4Key {
                src: Ipv4Addr::from(m[0] as u32),
                dst: Ipv4Addr::from(m[1] as u32),
                proto: 0,
                tos: (m[2] | m[3]) as u8,
                ttl: m[4] as u8,
                frag: 0,
            });
            // The protocol and fragment type cannot be written, so an
            // IPv4 set is always masked.
            out.push(Action::SetMasked { key, mask });
            absorb(flow, base, wc, &ip, &m);
        }
    }
    if et == eth_type::IPV6 && get(flow, id::NW_PROTO) != 0 {
        commit_ipv6(flow, base, wc, out);
    }
    if et == eth_type::ARP && get(flow, id::ARP_OP) != 0 && commit_arp(flow, base, wc, out) {
        // The kernel cannot rewrite ARP: the flow goes slow path.
        *slow = true;
    }
    if (et == eth_type::IP || et == eth_type::IPV6) && get(flow, id::NW_PROTO) != 0 {
        let proto = get(flow, id::NW_PROTO) as u8;
        let ports = match proto {
            6 => Some((
                [id::TCP_SRC, id::TCP_DST],
                KeyAttr::Tcp as fn(PortsKey) -> KeyAttr,
            )),
            17 => Some((
                [id::UDP_SRC, id::UDP_DST],
                KeyAttr::Udp as fn(PortsKey) -> KeyAttr,
            )),
            132 => Some((
                [id::SCTP_SRC, id::SCTP_DST],
                KeyAttr::Sctp as fn(PortsKey) -> KeyAttr,
            )),
            _ => None,
        };
        if let Some((fields, make)) = ports {
            if let Some(m) = field_masks(flow, base, wc, &fields) {
                let exact = m[0] == 0xffff && m[1] == 0xffff;
                let key = make(PortsKey {
                    src: (get(flow, fields[0]) & m[0]) as u16,
                    dst: (get(flow, fields[1]) & m[1]) as u16,
                });
                let mask = make(PortsKey {
                    src: m[0] as u16,
                    dst: m[1] as u16,
                });
                out.push(set_action(key, mask, exact));
                absorb(flow, base, wc, &fields, &m);
            }
        }
    }
    if et == eth_type::IP || et == eth_type::IPV6 {
        let icmp = match (et, get(flow, id::NW_PROTO)) {
            (eth_type::IP, 1) => Some((id::ICMP_TYPE, id::ICMP_CODE, false)),
            (eth_type::IPV6, 58) => Some((id::ICMPV6_TYPE, id::ICMPV6_CODE, true)),
            _ => None,
        };
        if let Some((t, c, v6)) = icmp {
            // As stock: never masked; type and code both written and
            // matched. The kernel cannot do it: the flow goes slow path.
            if get(flow, t) != get(base, t) || get(flow, c) != get(base, c) {
                let key = IcmpKey {
                    icmp_type: get(flow, t) as u8,
                    code: get(flow, c) as u8,
                };
                let make = if v6 { KeyAttr::Icmpv6 } else { KeyAttr::Icmp };
                out.push(Action::Set(make(key)));
                absorb(flow, base, wc, &[t, c], &[0xff, 0xff]);
                *slow = true;
            }
        }
    }
    super::mpls::commit(flow, base, &mut vlans.mpls, out, false);
    commit_vlans(flow, base, wc, vlans, out);
    // The priority (queue) before the mark, as stock orders them.
    commit_u32(flow, base, wc, id::SKB_PRIORITY, KeyAttr::Priority, out);
    commit_u32(flow, base, wc, id::PKT_MARK, KeyAttr::SkbMark, out);
}

/// A 32-bit packet metadata field (`skb_priority`, `pkt_mark`): a set,
/// masked unless translation looked at every bit.
fn commit_u32(
    flow: &Key,
    base: &mut Key,
    wc: &mut Key,
    field: usize,
    make: fn(u32) -> KeyAttr,
    out: &mut Vec<Action>,
) {
    let fields = [field];
    if let Some(m) = field_masks(flow, base, wc, &fields) {
        let v = get(flow, field) & m[0];
        out.push(set_action(
            make(v as u32),
            make(m[0] as u32),
            m[0] == 0xffff_ffff,
        ));
        absorb(flow, base, wc, &fields, &m);
    }
}

fn commit_ipv6(flow: &Key, base: &mut Key, wc: &mut Key, out: &mut Vec<Action>) {
    let ip = [
        id::IPV6_SRC,
        id::IPV6_DST,
        id::IPV6_LABEL,
        id::NW_TOS,
        id::NW_ECN,
        id::NW_TTL,
    ];
    let Some(mut m) = field_masks(flow, base, wc, &ip) else {
        return;
    };
    if m[3] != 0 || m[4] != 0 {
        m[3] = get(wc, id::NW_TOS);
        m[4] = get(wc, id::NW_ECN);
    }
    let v = |i: usize| get(flow, ip[i]) & m[i];
    let key = KeyAttr::Ipv6(Ipv6Key {
        src: Ipv6Addr::from(v(0)),
        dst: Ipv6Addr::from(v(1)),
        label: v(2) as u32,
        proto: 0,
        tclass: (v(3) | v(4)) as u8,
        hlimit: v(5) as u8,
        frag: 0,
    });
    let mask = KeyAttr::Ipv6(Ipv6Key {
        src: Ipv6Addr::from(m[0]),
        dst: Ipv6Addr::from(m[1]),
        label: m[2] as u32,
        proto: 0,
        tclass: (m[3] | m[4]) as u8,
        hlimit: m[5] as u8,
        frag: 0,
    });
    out.push(Action::SetMasked { key, mask });
    absorb(flow, base, wc, &ip, &m);
}

fn commit_arp(flow: &Key, base: &mut Key, wc: &mut Key, out: &mut Vec<Action>) -> bool {
    let arp = [
        id::ARP_SPA,
        id::ARP_TPA,
        id::ARP_OP,
        id::ARP_SHA,
        id::ARP_THA,
    ];
    let Some(m) = field_masks(flow, base, wc, &arp) else {
        return false;
    };
    let v = |i: usize| get(flow, arp[i]) & m[i];
    let key = KeyAttr::Arp(ArpKey {
        sip: Ipv4Addr::from(v(0) as u32),
        tip: Ipv4Addr::from(v(1) as u32),
        op: v(2) as u16,
        sha: mac(v(3)),
        tha: mac(v(4)),
    });
    let mask = KeyAttr::Arp(ArpKey {
        sip: Ipv4Addr::from(m[0] as u32),
        tip: Ipv4Addr::from(m[1] as u32),
        op: m[2] as u16,
        sha: mac(m[3]),
        tha: mac(m[4]),
    });
    let exact = arp.iter().zip(&m).all(|(&f, &mk)| mk == full(f));
    out.push(set_action(key, mask, exact));
    absorb(flow, base, wc, &arp, &m);
    true
}

/// Pops the tags of `base` that differ from the flow's (comparing from
/// the innermost) and pushes the flow's.
fn commit_vlans(
    flow: &Key,
    base: &mut Key,
    wc: &mut Key,
    vlans: &mut InnerVlans,
    out: &mut Vec<Action>,
) {
    let tags = |outer: u16, inner: u16| -> Vec<u16> {
        [outer, inner]
            .into_iter()
            .filter(|t| t & VLAN_CFI != 0)
            .collect()
    };
    let want = tags(get(flow, id::VLAN_TCI) as u16, vlans.flow);
    let have = tags(get(base, id::VLAN_TCI) as u16, vlans.base);
    let common = want
        .iter()
        .rev()
        .zip(have.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let n_pop = have.len() - common;
    for _ in 0..n_pop {
        out.push(Action::PopVlan);
    }
    if n_pop > 0 {
        // Popping depends on the whole tag that was there.
        put_be(&mut wc[range(id::VLAN_TCI)], 0xffff);
    }
    for &tci in want[..want.len() - common].iter().rev() {
        out.push(Action::PushVlan {
            tpid: eth_type::VLAN,
            tci,
        });
    }
    put_be(&mut base[range(id::VLAN_TCI)], get(flow, id::VLAN_TCI));
    vlans.base = vlans.flow;
}
