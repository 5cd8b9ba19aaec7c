//! Translation for the datapath's MISS upcalls: the datapath key goes
//! through the bridge's tables (the same translation `ofproto/trace` runs)
//! and comes back as what the handler installs and executes: datapath
//! actions and a megaflow mask, both as netlink attributes.

use std::collections::HashMap;
use std::sync::Arc;

use super::flow_text::{self, FlowKey};
use super::patch::with_world;
use super::topology::Topology;
use super::tunnel::{outer_ports, receive_target};
use super::{be, frange, put_be, shared_name, translate_received, Bridge, Received};
use crate::openflow::actions::Action;
use crate::openflow::fields::id;
use crate::openflow::fields::KEY_LEN;
use crate::switch::Switch;
use ferrovs_dpif::netdev::odp_key::MaskInto;
use ferrovs_dpif::odp::{self, Key, KeyAttr, TunnelAttr};
use ferrovs_netdev::FlowKey as DpFlowKey;

/// A MISS upcall's key for one bridge.
#[derive(Debug, Clone)]
pub struct UpcallRequest {
    /// The datapath key, netlink-encoded (as the upcall carries it).
    pub key: Vec<u8>,
    /// OpenFlow port number to datapath port number (the bridge's map,
    /// shared, not copied per upcall).
    pub odp_ports: Arc<HashMap<u16, u32>>,
    /// Whether the translation may change state (learn MACs, run learn
    /// actions): true for a packet's upcall; for a revalidation only
    /// when the flow carried packets since it was last looked at, as in
    /// Open vSwitch (a flush must not be undone by idle flows).
    pub may_learn: bool,
    /// `key` decoded, when the caller has it (a userspace datapath's
    /// poll thread made `key` from these attributes): translation then
    /// does not decode `key` again.
    pub parsed: Option<Key>,
    /// An OpenFlow packet-out to translate rather than a miss.
    pub packet_out: Option<Arc<PacketOutRequest>>,
}

/// An OpenFlow packet-out as translation takes it: its input port, which
/// may be no datapath port (CONTROLLER, NONE), and its actions, which run
/// instead of the tables.
#[derive(Debug, Clone)]
pub struct PacketOutRequest {
    pub in_port: u16,
    pub actions: Vec<crate::openflow::actions::Action>,
}

/// What the handler does with the packet and its megaflow.
#[derive(Debug, Clone)]
pub struct UpcallXlate {
    /// Datapath actions, netlink-encoded.
    pub actions: Vec<u8>,
    /// The same actions as translation made them (what `actions`
    /// encodes): the userspace datapath takes them as they are.
    pub odp_actions: Vec<odp::Action>,
    /// The megaflow mask, netlink-encoded; empty means an exact match on
    /// the whole key (used when the key holds headers this conversion
    /// does not know how to mask).
    pub mask: Vec<u8>,
    /// `mask` in the userspace datapath's flow layout, before the
    /// datapath completes it (`odp_key::masked_extracted`), when the
    /// request came with its key parsed (`UpcallRequest::parsed`, a
    /// userspace datapath's miss) and `mask` is not empty: the datapath
    /// then need not decode `mask`.
    pub datapath_mask: Option<DpFlowKey>,
    /// The flow must stay in userspace (no megaflow may be installed).
    pub slow: bool,
    /// The rules the translation went through, for crediting statistics
    /// ([`crate::OfprotoService::credit_stats`]); shared (not copied) by
    /// the flow's ukey and its credits.
    pub rules: Arc<[super::RuleHit]>,
    /// Rules the translation learned (already applied); the
    /// revalidators refresh them while the flow carries packets.
    pub learned: Arc<[super::learn::Learned]>,
    /// Learning added or changed rules: flows translated before may be
    /// stale.
    pub tables_changed: bool,
    /// The input ports of the translation's table lookups.
    pub in_ports: Vec<u16>,
    /// The (VLAN, MAC) destinations NORMAL looked up (MAC table changes
    /// to others cannot affect this translation).
    pub mac_lookups: Vec<crate::mac_learning::MacKey>,
    /// Packets translation sends besides this one (ARP requests for
    /// tunnel neighbours): frame, key (netlink) and actions (netlink).
    pub injected: Vec<InjectedPacket>,
}

/// A packet to execute: the frame, its key and actions as netlink
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedPacket {
    pub packet: Vec<u8>,
    pub key: Vec<u8>,
    pub actions: Vec<u8>,
}

/// The bridge view both `ofproto/trace` and upcalls translate with.
pub(crate) fn with_bridge<R>(
    sw: &Switch,
    odp_ports: &HashMap<u16, u32>,
    side_effects: bool,
    f: impl FnOnce(&Bridge<'_>) -> R,
) -> R {
    let misses = table_misses(sw);
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

/// The table-miss behaviour of each table (`Bridge::table_miss`), up to
/// the last that is not the default (0, which a missing entry means):
/// usually none, so a translation copies nothing.
pub(crate) fn table_misses(sw: &Switch) -> Vec<u32> {
    let n = sw
        .table_cfg
        .iter()
        .rposition(|c| c.miss != 0)
        .map_or(0, |i| i + 1);
    sw.table_cfg[..n].iter().map(|c| c.miss).collect()
}

/// Translates an upcall's key through `sw` alone, and applies what it
/// learned (when `req.may_learn`).
pub fn translate_upcall(sw: &mut Switch, req: &UpcallRequest) -> Result<UpcallXlate, String> {
    let name = sw.name.clone();
    let mut x = {
        let switches: HashMap<&str, &Switch> = HashMap::from([(name.as_str(), &*sw)]);
        translate_upcall_world(&switches, None, &name, req)?.1
    };
    if req.may_learn {
        x.tables_changed = super::learn::apply(sw, &x.learned);
    }
    Ok(x)
}

fn encode_injected(v: &[super::tunnel::Injected]) -> Result<Vec<InjectedPacket>, String> {
    v.iter()
        .map(|i| {
            Ok(InjectedPacket {
                packet: i.packet.clone(),
                key: Key::new(vec![KeyAttr::InPort(i.in_port)])
                    .to_nlattrs()
                    .map_err(|e| e.message)?,
                actions: odp::action::encode_actions(&i.actions).map_err(|e| e.message)?,
            })
        })
        .collect()
}

/// Translates an upcall's key through `bridge`, one of `switches`, with
/// patch ports and tunnels reaching the others through `topo`. A packet
/// decapsulated from a tunnel goes to the bridge of the tunnel port it
/// belongs to, whatever `bridge` says: that bridge's name comes back
/// with the answer. What translation learned is in `learned`, not
/// applied yet (the switches are only borrowed): the caller applies it
/// with [`super::learn::apply`] when `req.may_learn`.
pub fn translate_upcall_world(
    switches: &HashMap<&str, &Switch>,
    topo: Option<&Topology>,
    bridge: &str,
    req: &UpcallRequest,
) -> Result<(String, UpcallXlate), String> {
    translate_upcall_in(switches, topo, bridge, req).map(|(b, x)| (b.to_string(), x))
}

/// [`translate_upcall_world`], naming the target bridge with a shared
/// string (one per thread and bridge name, not one per upcall).
pub fn translate_upcall_in<S: std::hash::BuildHasher>(
    switches: &HashMap<&str, &Switch, S>,
    topo: Option<&Topology>,
    bridge: &str,
    req: &UpcallRequest,
) -> Result<(Arc<str>, UpcallXlate), String> {
    let decoded;
    let key = match &req.parsed {
        Some(k) => {
            // Tests run debug builds: every such translation checks
            // that the attributes are what decoding `key` gives.
            debug_assert!(
                Key::from_nlattrs(&req.key).is_ok_and(|d| d == *k),
                "UpcallRequest::parsed differs from its key"
            );
            k
        }
        None => {
            decoded = Key::from_nlattrs(&req.key).map_err(|e| e.message)?;
            &decoded
        }
    };
    let deeper = super::mpls::Deeper::of_key(key);
    // A userspace datapath's miss: its datapath takes the mask directly.
    let direct = req.parsed.is_some();
    let Some(topo) = topo.filter(|t| t.bridges.contains_key(bridge)) else {
        let sw = switches
            .get(bridge)
            .ok_or_else(|| format!("no bridge named {bridge}"))?;
        let mut flow = [0; KEY_LEN];
        flow_text::from_odp_into(key, |d| ofport_of(&req.odp_ports, d), &mut flow)?;
        let packet_out = packet_out_input(req, &mut flow);
        // Finished where it was made: the translation (two flow-key
        // arrays) is not moved between frames.
        let x = with_bridge(sw, &req.odp_ports, req.may_learn, |br| {
            let br = Bridge {
                describe_rules: false,
                ..*br
            };
            let rx = Received {
                deeper_labels: deeper,
                packet_out,
                ..Received::default()
            };
            let mut x = translate_received(&br, None, &flow, rx);
            finish(key, &flow, &mut x, direct)
        })?;
        return Ok((shared_name(bridge), x));
    };
    let target = match receive_target(topo, key) {
        Ok(t) => t,
        // A tunnel packet no tunnel port takes: dropped, exactly matched.
        Err(_) => {
            return Ok((
                shared_name(bridge),
                UpcallXlate {
                    actions: Vec::new(),
                    odp_actions: Vec::new(),
                    mask: Vec::new(),
                    datapath_mask: None,
                    slow: false,
                    rules: Arc::new([]),
                    learned: Arc::new([]),
                    tables_changed: false,
                    in_ports: Vec::new(),
                    mac_lookups: Vec::new(),
                    injected: Vec::new(),
                },
            ))
        }
    };
    let target_bridge = target.as_ref().map_or(bridge, |t| t.0.as_str());
    let bt = topo
        .bridges
        .get(target_bridge)
        .ok_or_else(|| format!("no bridge named {target_bridge}"))?;
    // The tunnel port a decapsulated packet belongs to, else the
    // bridge's port of that datapath number.
    let mut flow = [0; KEY_LEN];
    let ofport = |d| match &target {
        Some((_, odp, p, _)) if *odp == d => Some(*p),
        _ => ofport_of(&bt.odp_ports, d),
    };
    flow_text::from_odp_into(key, ofport, &mut flow)?;
    if let Some((_, _, _, t)) = &target {
        t.to_flow(&mut flow);
    }
    if let Some(sw) = switches.get(target_bridge) {
        super::tunnel::geneve_options_to_flow(key, &sw.tlv_table, Some(&mut flow))?;
    }
    let packet_out = packet_out_input(req, &mut flow);
    // Unwrapped in place (no `ok_or_else`, which copies the answer
    // into another wrapper).
    let translated = with_world(switches, topo, req.may_learn, false, |w| {
        w.bridges.get(target_bridge).map(|br| {
            let rx = Received {
                deeper_labels: deeper,
                outer_ports: outer_ports(key),
                packet_out,
            };
            let mut x = translate_received(br, Some(w), &flow, rx);
            finish(key, &flow, &mut x, direct)
        })
    });
    match translated {
        Some(Ok(x)) => Ok((shared_name(target_bridge), x)),
        Some(Err(e)) => Err(e),
        None => Err(format!("no bridge named {target_bridge}")),
    }
}

/// A packet-out's actions, its input port put into `flow` (the key's
/// datapath port stands for it only where it has one).
fn packet_out_input<'r>(req: &'r UpcallRequest, flow: &mut FlowKey) -> Option<&'r [Action]> {
    let po = req.packet_out.as_deref()?;
    put_be(&mut flow[frange(id::IN_PORT)], u128::from(po.in_port));
    Some(&po.actions)
}

/// The OpenFlow port of datapath port `odp` in `odp_ports` (OpenFlow
/// to datapath): a scan, cheaper than building the reversed map for
/// the one lookup an upcall makes.
fn ofport_of(odp_ports: &HashMap<u16, u32>, odp: u32) -> Option<u16> {
    odp_ports.iter().find(|(_, &d)| d == odp).map(|(&o, _)| o)
}

/// The translation of `key` (as `flow`) as the handler needs it; with
/// the mask in the userspace datapath's layout too when `direct`.
fn finish(
    key: &Key,
    flow: &FlowKey,
    x: &mut super::Xlated,
    direct: bool,
) -> Result<UpcallXlate, String> {
    // A translation error drops the packet; the (empty) actions say so.
    let actions = odp::action::encode_actions(&x.actions).map_err(|e| e.message)?;
    let mut out = UpcallXlate {
        actions,
        odp_actions: std::mem::take(&mut x.actions),
        mask: Vec::with_capacity(key.attrs.len() * 12 + 16),
        // Built where it is kept (MaskInto), not moved in.
        datapath_mask: direct.then(DpFlowKey::default),
        slow: x.slow || x.no_install,
        rules: Arc::clone(&x.rules),
        learned: shared_learned(std::mem::take(&mut x.learned)),
        tables_changed: false,
        in_ports: std::mem::take(&mut x.in_ports),
        mac_lookups: std::mem::take(&mut x.mac_lookups),
        injected: encode_injected(&x.injected)?,
    };
    let mut builder = out.datapath_mask.as_mut().map(MaskInto::new);
    let whole = megaflow_mask(
        &key.attrs,
        flow,
        &x.wc,
        x.mpls_wc,
        &mut out.mask,
        builder.as_mut(),
    )?;
    let spoilt = builder.is_some_and(|b| !b.ok());
    if !whole {
        out.mask = Vec::new();
    }
    if !whole || spoilt {
        out.datapath_mask = None;
    }
    Ok(out)
}

/// `learned` shared; nearly always empty, and then one empty list per
/// thread is shared rather than allocated per translation.
fn shared_learned(learned: Vec<super::learn::Learned>) -> Arc<[super::learn::Learned]> {
    thread_local! {
        static NONE: Arc<[super::learn::Learned]> = Arc::new([]);
    }
    if learned.is_empty() {
        NONE.with(Arc::clone)
    } else {
        learned.into()
    }
}

/// Appends to `out` the netlink-encoded mask of the key attributes
/// `attrs` that the wildcards `wc` (in flow-key layout) allow; false
/// when the key has an attribute this does not map (the caller then
/// matches it exactly). In-port and recirculation id are always exact,
/// as every datapath flow needs. Each top-level mask attribute also goes
/// to `direct`, when given (the userspace datapath's layout).
fn megaflow_mask(
    attrs: &[KeyAttr],
    flow: &FlowKey,
    wc: &FlowKey,
    mpls_wc: [u32; 2],
    out: &mut Vec<u8>,
    mut direct: Option<&mut MaskInto<'_>>,
) -> Result<bool, String> {
    for a in attrs {
        if let KeyAttr::Encap(inner) = a {
            // The encapsulated headers are masked as the outer. (The
            // direct mask does not take nesting: it is spoilt.)
            if let Some(d) = direct.as_deref_mut() {
                d.add(a);
            }
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            if !megaflow_mask(inner, flow, wc, mpls_wc, out, None)? {
                return Ok(false);
            }
            let len = u16::try_from(out.len() - start)
                .map_err(|_| "megaflow mask too long".to_string())?;
            out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
            out[start + 2..start + 4].copy_from_slice(&a.attr_type().to_ne_bytes());
            continue;
        }
        match attr_mask(a, flow, wc, mpls_wc) {
            Some(m) => {
                encode_attr(&m, out)?;
                if let Some(d) = direct.as_deref_mut() {
                    d.add(&m);
                }
            }
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// The mask of one key attribute (not an encapsulation) that `wc`
/// allows; None when this does not map it.
fn attr_mask(a: &KeyAttr, flow: &FlowKey, wc: &FlowKey, mpls_wc: [u32; 2]) -> Option<KeyAttr> {
    let m = |f: usize| be(&wc[frange(f)]);
    Some(match a {
        KeyAttr::InPort(_) => KeyAttr::InPort(u32::MAX),
        KeyAttr::RecircId(_) => KeyAttr::RecircId(u32::MAX),
        // Translation always looks at the packet type (a userspace
        // datapath's key carries it; the kernel's does not).
        KeyAttr::PacketType(_) => KeyAttr::PacketType(u32::MAX),
        KeyAttr::Priority(_) => KeyAttr::Priority(m(id::SKB_PRIORITY) as u32),
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
        // (CFI).
        KeyAttr::Vlan(_) => KeyAttr::Vlan(m(id::VLAN_TCI) as u16 | 0x1000),
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
        // A decapsulated packet's flow matches what decided its
        // tunnel port (key, addresses, flags) and the outer TOS;
        // never the outer TTL or UDP ports (stock's tnl_wc_init).
        KeyAttr::Tunnel(t) => {
            let v6 = t.iter().any(|x| matches!(x, TunnelAttr::Ipv6Dst(_)));
            let ones6 = std::net::Ipv6Addr::from(u128::MAX);
            let (src, dst) = if v6 {
                (TunnelAttr::Ipv6Src(ones6), TunnelAttr::Ipv6Dst(ones6))
            } else {
                (
                    TunnelAttr::Ipv4Src(std::net::Ipv4Addr::BROADCAST),
                    TunnelAttr::Ipv4Dst(std::net::Ipv4Addr::BROADCAST),
                )
            };
            let mut mask = vec![
                TunnelAttr::Id(u64::MAX),
                src,
                dst,
                TunnelAttr::Tos(0xff),
                TunnelAttr::Ttl(0),
                TunnelAttr::DontFragment,
                TunnelAttr::Csum,
                TunnelAttr::TpSrc(0),
                TunnelAttr::TpDst(0),
            ];
            // Geneve options: matched whole (they may have chosen
            // rules through tun_metadata), as stock's megaflows show.
            for x in t {
                if let TunnelAttr::GeneveOpts(o) = x {
                    mask.push(TunnelAttr::GeneveOpts(vec![0xff; o.len()]));
                }
            }
            KeyAttr::Tunnel(mask)
        }
        // The top entry from the key's fields, the others by position.
        KeyAttr::Mpls(lses) => {
            let top = ((m(id::MPLS_LABEL) as u32 & 0xf_ffff) << 12)
                | ((m(id::MPLS_TC) as u32 & 7) << 9)
                | ((m(id::MPLS_BOS) as u32 & 1) << 8)
                | (m(id::MPLS_TTL) as u32 & 0xff);
            let under = mpls_wc.iter().copied();
            KeyAttr::Mpls(std::iter::once(top).chain(under).take(lses.len()).collect())
        }
        // IPv6, conntrack, encapsulations, ...: exact match.
        _ => return None,
    })
}

/// `attrs` as netlink attributes, as [`Key::to_nlattrs`] encodes them.
#[cfg(test)]
fn encode_key(attrs: &[KeyAttr]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for a in attrs {
        encode_attr(a, &mut out)?;
    }
    Ok(out)
}

/// Appends `a` to `out` as [`Key::to_nlattrs`] encodes it, writing the
/// fixed-size attributes (all a megaflow mask has, but for tunnels, VLAN
/// encapsulation and MPLS) straight into the output: per upcall, a
/// buffer per attribute was most of the mask's cost.
fn encode_attr(a: &KeyAttr, out: &mut Vec<u8>) -> Result<(), String> {
    let mut p = [0u8; 24];
    let n = match a {
        KeyAttr::Priority(v)
        | KeyAttr::InPort(v)
        | KeyAttr::SkbMark(v)
        | KeyAttr::DpHash(v)
        | KeyAttr::RecircId(v)
        | KeyAttr::CtState(v)
        | KeyAttr::CtMark(v) => put(&mut p, &[&v.to_ne_bytes()]),
        KeyAttr::CtZone(z) => put(&mut p, &[&z.to_ne_bytes()]),
        KeyAttr::CtLabels(l) => put(&mut p, &[&l.to_ne_bytes()]),
        KeyAttr::Ethernet(e) => put(&mut p, &[&e.src, &e.dst]),
        KeyAttr::Vlan(v) | KeyAttr::Ethertype(v) | KeyAttr::TcpFlags(v) => {
            put(&mut p, &[&v.to_be_bytes()])
        }
        KeyAttr::Ipv4(k) => put(
            &mut p,
            &[
                &k.src.octets(),
                &k.dst.octets(),
                &[k.proto, k.tos, k.ttl, k.frag],
            ],
        ),
        KeyAttr::Tcp(k) | KeyAttr::Udp(k) | KeyAttr::Sctp(k) => {
            put(&mut p, &[&k.src.to_be_bytes(), &k.dst.to_be_bytes()])
        }
        KeyAttr::Icmp(k) => put(&mut p, &[&[k.icmp_type, k.code]]),
        KeyAttr::Arp(k) => put(
            &mut p,
            &[
                &k.sip.octets(),
                &k.tip.octets(),
                &k.op.to_be_bytes(),
                &k.sha,
                &k.tha,
                &[0, 0],
            ],
        ),
        other => {
            let mut w = odp::nlattr::NlWriter::new();
            other.write_to(&mut w);
            out.extend_from_slice(&w.finish().map_err(|e| e.message)?);
            return Ok(());
        }
    };
    out.extend_from_slice(&(4 + n as u16).to_ne_bytes());
    out.extend_from_slice(&a.attr_type().to_ne_bytes());
    out.extend_from_slice(&p[..n]);
    out.resize(out.len().next_multiple_of(4), 0);
    Ok(())
}

/// Copies `parts` one after the other into `buf`; their total length.
fn put(buf: &mut [u8; 24], parts: &[&[u8]]) -> usize {
    let mut n = 0;
    for part in parts {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}

/// Datapath statistics to add to the rules a flow went through.
#[derive(Debug, Clone)]
pub struct Credit {
    pub rules: Arc<[super::RuleHit]>,
    pub packets: u64,
    pub bytes: u64,
    /// Learned rules to refresh when there were packets.
    pub learned: Arc<[super::learn::Learned]>,
}

impl Credit {
    /// The credit an upcalled packet of `packet_len` bytes owes the rules
    /// its translation `x` went through: the packet itself counts, as its
    /// flow's later packets will. None without a translation or packet.
    pub fn for_upcall(x: &Result<UpcallXlate, String>, packet_len: Option<u64>) -> Option<Credit> {
        let (Ok(x), Some(bytes)) = (x, packet_len) else {
            return None;
        };
        Some(Credit {
            rules: Arc::clone(&x.rules),
            packets: 1,
            bytes,
            learned: Arc::new([]),
        })
    }
}

/// Adds each credit's packets and bytes to its rules of `sw`'s bridge
/// (rules of other bridges are theirs to credit) and to its mirrors, and
/// marks the rules used now, so idle timeouts see the traffic. The
/// counters are atomics the hits share with their rules: a read lock on
/// the switch is enough (it is needed only for the mirrors).
pub fn credit_stats(sw: &Switch, credits: &[Credit]) {
    let now = std::time::Instant::now().into();
    for c in credits {
        credit_hits(sw, &c.rules, c.packets, c.bytes, now);
    }
}

/// Adds `packets` and `bytes` to the rules and mirrors of `sw`'s bridge
/// that `hits` went through (see [`credit_stats`]).
pub fn credit_hits(
    sw: &Switch,
    hits: &[super::RuleHit],
    packets: u64,
    bytes: u64,
    now: crate::switch::RuleTime,
) {
    for hit in hits.iter().filter(|h| *h.bridge == *sw.name) {
        match &hit.stats {
            Some(stats) => stats.credit(packets, bytes, now),
            None if hit.table == super::mirror::CREDIT_TABLE => {
                super::mirror::credit_hit(sw, hit, packets, bytes)
            }
            None => {}
        }
    }
}

fn mac(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    let mut out = [0u8; 6];
    out.copy_from_slice(&b[10..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrovs_dpif::odp::key::{ArpKey, EthKey, IcmpKey, Ipv4Key, PortsKey};

    /// The direct encoding is the netlink encoding, attribute for
    /// attribute (those it writes itself and those it hands on).
    #[test]
    fn mask_encoding_matches_the_netlink_encoding() {
        let ports = PortsKey {
            src: 0x1234,
            dst: 0xff00,
        };
        let attrs = vec![
            KeyAttr::Priority(0x0102_0304),
            KeyAttr::InPort(u32::MAX),
            KeyAttr::SkbMark(7),
            KeyAttr::CtState(0x21),
            KeyAttr::CtZone(0xabcd),
            KeyAttr::CtMark(0xdead_beef),
            KeyAttr::CtLabels(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
            KeyAttr::RecircId(9),
            KeyAttr::DpHash(0xffff_0000),
            KeyAttr::Ethernet(EthKey {
                src: [1, 2, 3, 4, 5, 6],
                dst: [0xff, 0xfe, 0xfd, 0, 0, 1],
            }),
            KeyAttr::Vlan(0x1fff),
            KeyAttr::Ethertype(0x0800),
            KeyAttr::Ipv4(Ipv4Key {
                src: [10, 0, 0, 1].into(),
                dst: [255, 255, 255, 0].into(),
                proto: 17,
                tos: 0xfc,
                ttl: 64,
                frag: 0xff,
            }),
            KeyAttr::Tcp(ports),
            KeyAttr::Udp(ports),
            KeyAttr::Sctp(ports),
            KeyAttr::TcpFlags(0x0fff),
            KeyAttr::Icmp(IcmpKey {
                icmp_type: 8,
                code: 0xff,
            }),
            KeyAttr::Arp(ArpKey {
                sip: [1, 2, 3, 4].into(),
                tip: [5, 6, 7, 8].into(),
                op: 2,
                sha: [9, 8, 7, 6, 5, 4],
                tha: [3, 2, 1, 0, 0xff, 0xee],
            }),
            KeyAttr::Mpls(vec![0x0001_2140, 0xffff_ffff]),
            KeyAttr::Encap(vec![KeyAttr::Ethertype(0xffff)]),
            KeyAttr::Tunnel(vec![
                TunnelAttr::Id(u64::MAX),
                TunnelAttr::Ipv4Dst(std::net::Ipv4Addr::BROADCAST),
                TunnelAttr::TpDst(0),
            ]),
        ];
        let want = Key::new(attrs.clone()).to_nlattrs().expect("encodes");
        assert_eq!(encode_key(&attrs).expect("encodes"), want);
        for a in &attrs {
            let one = std::slice::from_ref(a);
            let want = Key::new(one.to_vec()).to_nlattrs().expect("encodes");
            assert_eq!(encode_key(one).expect("encodes"), want, "{a:?}");
        }
    }

    /// The megaflow mask a userspace datapath's miss gets directly
    /// (`UpcallXlate::datapath_mask`) is the one the datapath would
    /// decode from the netlink mask (`odp_key::from_odp`), and the
    /// netlink mask is unchanged by making it: random wildcards over keys
    /// of every kind the poll threads extract.
    #[test]
    fn direct_datapath_mask_matches_the_decoded_netlink_mask() {
        use ferrovs_dpif::netdev::odp_key;
        use ferrovs_tests::odp_corpus::{self, FLOWS};
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut direct, mut spoilt, mut exact) = (0, 0, 0);
        for &text in FLOWS {
            let parsed = odp::parse_flow(text, None).expect("flow text");
            let (k, _) = odp_key::from_odp(&parsed.key, &[]).expect("key");
            let frame =
                ferrovs_netdev::compose::compose(&k, &ferrovs_netdev::compose::default_payload(20));
            let meta = ferrovs_netdev::packet::PacketMeta {
                in_port: k.in_port,
                ..Default::default()
            };
            let dp_key = ferrovs_netdev::flow::extract(&frame, &meta).key;
            let key = Key::new(odp_key::to_odp_attrs(&dp_key));
            let key_bytes = key.to_nlattrs().expect("encodes");
            let mut flow = [0u8; KEY_LEN];
            flow_text::from_odp_into(&key, |d| u16::try_from(d).ok(), &mut flow).expect("flow");
            for _ in 0..300 {
                let mut wc = [0u8; KEY_LEN];
                for b in wc.iter_mut() {
                    *b = match next() % 4 {
                        0 => 0,
                        1 | 2 => 0xff,
                        _ => next() as u8,
                    };
                }
                let mpls_wc = [next() as u32, next() as u32];
                let mut plain = Vec::new();
                let took =
                    megaflow_mask(&key.attrs, &flow, &wc, mpls_wc, &mut plain, None).expect("mask");
                let mut mask = Vec::new();
                let mut built = ferrovs_netdev::FlowKey::default();
                let mut b = MaskInto::new(&mut built);
                let took2 = megaflow_mask(&key.attrs, &flow, &wc, mpls_wc, &mut mask, Some(&mut b))
                    .expect("mask");
                let b_ok = b.ok();
                assert_eq!((took, &plain), (took2, &mask), "{text}");
                if !took {
                    // Matched exactly (IPv6): no mask of either kind.
                    exact += 1;
                    continue;
                }
                let full = odp_key::from_odp(&key_bytes, &mask).expect("decodes");
                match b_ok
                    .then_some(built)
                    .and_then(|m| odp_key::masked_extracted(&dp_key, &m))
                {
                    Some(d) => {
                        assert!(d == full, "{text}");
                        direct += 1;
                    }
                    None => spoilt += 1,
                }
            }
        }
        // All but the VLAN key (decoded) and the IPv6 ones (exact) go
        // directly.
        let tagged = FLOWS.iter().filter(|f| odp_corpus::tagged(f)).count();
        let ipv6 = FLOWS.iter().filter(|f| odp_corpus::ipv6(f)).count();
        let plain = FLOWS.len() - tagged - ipv6;
        assert_eq!(
            (direct, spoilt, exact),
            (plain * 300, tagged * 300, ipv6 * 300)
        );
    }
}
