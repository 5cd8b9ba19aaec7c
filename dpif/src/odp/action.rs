//! Datapath actions: owned representations of the `OVS_ACTION_ATTR_*`
//! attributes and their netlink encoding, nested where the kernel nests
//! them.

use super::consts::*;
use super::key::{decode_nsh, encode_nsh, KeyAttr, NshAttr};
use super::nlattr::{NlAttrIter, NlWriter};
use super::{OdpError, Result};

/// Deepest nesting of action lists accepted when decoding.
pub const MAX_ACTION_DEPTH: usize = 32;

/// `OVS_ACTION_ATTR_USERSPACE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Userspace {
    pub pid: u32,
    pub userdata: Option<Vec<u8>>,
    pub egress_tun_port: Option<u32>,
    /// OVS_USERSPACE_ATTR_ACTIONS: send the actions up with the packet.
    pub actions: bool,
    /// Attributes unknown to this code, kept in order after the others.
    pub unknown: Vec<(u16, Vec<u8>)>,
}

/// One `OVS_NAT_ATTR_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatAttr {
    Src,
    Dst,
    /// 4 or 16 address bytes.
    IpMin(Vec<u8>),
    IpMax(Vec<u8>),
    ProtoMin(u16),
    ProtoMax(u16),
    Persistent,
    ProtoHash,
    ProtoRandom,
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

/// One `OVS_CT_ATTR_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtAttr {
    Commit,
    ForceCommit,
    Zone(u16),
    Mark {
        value: u32,
        mask: u32,
    },
    Labels {
        value: u128,
        mask: u128,
    },
    /// Helper name (without the terminating NUL the wire form carries).
    Helper(String),
    Nat(Vec<NatAttr>),
    EventMask(u32),
    /// Timeout policy name (without the terminating NUL).
    Timeout(String),
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

/// One datapath action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Output(u32),
    Userspace(Userspace),
    Set(KeyAttr),
    /// A masked set: `key` holds only bits that `mask` selects.
    SetMasked {
        key: KeyAttr,
        mask: KeyAttr,
    },
    PushVlan {
        tpid: u16,
        tci: u16,
    },
    PopVlan,
    Sample {
        probability: u32,
        actions: Vec<Action>,
    },
    Recirc(u32),
    Hash {
        alg: u32,
        basis: u32,
    },
    PushMpls {
        lse: u32,
        ethertype: u16,
    },
    PopMpls(u16),
    Ct(Vec<CtAttr>),
    Trunc(u32),
    PushEth {
        src: [u8; 6],
        dst: [u8; 6],
    },
    PopEth,
    CtClear,
    PushNsh(Vec<NshAttr>),
    PopNsh,
    Meter(u32),
    Clone(Vec<Action>),
    CheckPktLen {
        pkt_len: u16,
        gt: Vec<Action>,
        le: Vec<Action>,
    },
    AddMpls {
        lse: u32,
        ethertype: u16,
        tun_flags: u16,
    },
    /// Decrement TTL; run the nested actions when it expires.
    DecTtl(Vec<Action>),
    /// Explicit drop with a reason code (Linux 6.4+).
    Drop(u32),
    /// Userspace datapath only.
    TunnelPush(super::tnl_push::TunnelPush),
    /// Userspace datapath only.
    TunnelPop(u32),
    /// Userspace datapath only.
    LbOutput(u32),
    /// An action this code does not know, kept byte for byte.
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

fn fixed<const N: usize>(ty: u16, p: &[u8]) -> Result<[u8; N]> {
    p.try_into()
        .map_err(|_| OdpError::new(format!("action {ty} has length {}, expected {N}", p.len())))
}

fn string_attr(p: &[u8]) -> Result<String> {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8(p[..end].to_vec())
        .map_err(|_| OdpError::new("attribute is not a valid string"))
}

/// Decodes a stream of actions.
pub fn decode_actions(buf: &[u8], depth: usize) -> Result<Vec<Action>> {
    if depth > MAX_ACTION_DEPTH {
        return Err(OdpError::new("actions nested too deeply"));
    }
    let mut out = Vec::new();
    for a in NlAttrIter::new(buf) {
        let a = a?;
        out.push(Action::decode(a.ty, a.payload, depth)?);
    }
    Ok(out)
}

/// Encodes a list of actions.
pub fn encode_actions(actions: &[Action]) -> Result<Vec<u8>> {
    // Most actions take 8 to 16 bytes.
    let mut w = NlWriter::with_capacity(16 * actions.len());
    for a in actions {
        a.write_to(&mut w)?;
    }
    w.finish()
}

impl Action {
    pub fn attr_type(&self) -> u16 {
        use Action::*;
        match self {
            Output(_) => OVS_ACTION_ATTR_OUTPUT,
            Userspace(_) => OVS_ACTION_ATTR_USERSPACE,
            Set(_) => OVS_ACTION_ATTR_SET,
            SetMasked { .. } => OVS_ACTION_ATTR_SET_MASKED,
            PushVlan { .. } => OVS_ACTION_ATTR_PUSH_VLAN,
            PopVlan => OVS_ACTION_ATTR_POP_VLAN,
            Sample { .. } => OVS_ACTION_ATTR_SAMPLE,
            Recirc(_) => OVS_ACTION_ATTR_RECIRC,
            Hash { .. } => OVS_ACTION_ATTR_HASH,
            PushMpls { .. } => OVS_ACTION_ATTR_PUSH_MPLS,
            PopMpls(_) => OVS_ACTION_ATTR_POP_MPLS,
            Ct(_) => OVS_ACTION_ATTR_CT,
            Trunc(_) => OVS_ACTION_ATTR_TRUNC,
            PushEth { .. } => OVS_ACTION_ATTR_PUSH_ETH,
            PopEth => OVS_ACTION_ATTR_POP_ETH,
            CtClear => OVS_ACTION_ATTR_CT_CLEAR,
            PushNsh(_) => OVS_ACTION_ATTR_PUSH_NSH,
            PopNsh => OVS_ACTION_ATTR_POP_NSH,
            Meter(_) => OVS_ACTION_ATTR_METER,
            Clone(_) => OVS_ACTION_ATTR_CLONE,
            CheckPktLen { .. } => OVS_ACTION_ATTR_CHECK_PKT_LEN,
            AddMpls { .. } => OVS_ACTION_ATTR_ADD_MPLS,
            DecTtl(_) => OVS_ACTION_ATTR_DEC_TTL,
            Drop(_) => OVS_ACTION_ATTR_DROP,
            TunnelPush(_) => OVS_ACTION_ATTR_TUNNEL_PUSH,
            TunnelPop(_) => OVS_ACTION_ATTR_TUNNEL_POP,
            LbOutput(_) => OVS_ACTION_ATTR_LB_OUTPUT,
            Unknown { ty, .. } => *ty,
        }
    }

    pub fn decode(ty: u16, p: &[u8], depth: usize) -> Result<Action> {
        use Action::*;
        let empty = |a: Action| -> Result<Action> {
            if p.is_empty() {
                Ok(a)
            } else {
                Err(OdpError::new(format!(
                    "action {ty} has length {}, expected 0",
                    p.len()
                )))
            }
        };
        let u32ne = || fixed::<4>(ty, p).map(u32::from_ne_bytes);
        Ok(match ty {
            OVS_ACTION_ATTR_OUTPUT => Output(u32ne()?),
            OVS_ACTION_ATTR_USERSPACE => {
                let mut u = self::Userspace::default();
                let mut have_pid = false;
                for a in NlAttrIter::new(p) {
                    let a = a?;
                    match a.ty {
                        OVS_USERSPACE_ATTR_PID => {
                            u.pid = a.u32_ne()?;
                            have_pid = true;
                        }
                        OVS_USERSPACE_ATTR_USERDATA => u.userdata = Some(a.payload.to_vec()),
                        OVS_USERSPACE_ATTR_EGRESS_TUN_PORT => u.egress_tun_port = Some(a.u32_ne()?),
                        OVS_USERSPACE_ATTR_ACTIONS => u.actions = true,
                        t => u.unknown.push((t, a.payload.to_vec())),
                    }
                }
                if !have_pid {
                    return Err(OdpError::new("userspace action without pid"));
                }
                Userspace(u)
            }
            OVS_ACTION_ATTR_SET => {
                let mut it = NlAttrIter::new(p);
                let a = it
                    .next()
                    .ok_or_else(|| OdpError::new("empty set action"))??;
                if it.next().is_some() {
                    return Err(OdpError::new("set action with more than one key"));
                }
                Set(KeyAttr::decode(a.ty, a.payload, 0)?)
            }
            OVS_ACTION_ATTR_SET_MASKED => {
                let mut it = NlAttrIter::new(p);
                let a = it
                    .next()
                    .ok_or_else(|| OdpError::new("empty set action"))??;
                if it.next().is_some() {
                    return Err(OdpError::new("set action with more than one key"));
                }
                if a.ty == OVS_KEY_ATTR_NSH {
                    let key = decode_nsh(a.payload, true)?;
                    let mask = decode_nsh_masks(a.payload)?;
                    SetMasked {
                        key: KeyAttr::Nsh(key),
                        mask: KeyAttr::Nsh(mask),
                    }
                } else {
                    let d = a.payload;
                    if d.len() % 2 != 0 {
                        return Err(OdpError::new("masked set action with odd length"));
                    }
                    let (k, m) = d.split_at(d.len() / 2);
                    SetMasked {
                        key: KeyAttr::decode(a.ty, k, 0)?,
                        mask: KeyAttr::decode(a.ty, m, 0)?,
                    }
                }
            }
            OVS_ACTION_ATTR_PUSH_VLAN => {
                let b = fixed::<4>(ty, p)?;
                PushVlan {
                    tpid: u16::from_be_bytes([b[0], b[1]]),
                    tci: u16::from_be_bytes([b[2], b[3]]),
                }
            }
            OVS_ACTION_ATTR_POP_VLAN => empty(PopVlan)?,
            OVS_ACTION_ATTR_SAMPLE => {
                let (mut prob, mut acts) = (None, None);
                for a in NlAttrIter::new(p) {
                    let a = a?;
                    match a.ty {
                        OVS_SAMPLE_ATTR_PROBABILITY => prob = Some(a.u32_ne()?),
                        OVS_SAMPLE_ATTR_ACTIONS => {
                            acts = Some(decode_actions(a.payload, depth + 1)?)
                        }
                        _ => return Err(OdpError::new("unknown sample attribute")),
                    }
                }
                Sample {
                    probability: prob.ok_or_else(|| OdpError::new("sample without probability"))?,
                    actions: acts.ok_or_else(|| OdpError::new("sample without actions"))?,
                }
            }
            OVS_ACTION_ATTR_RECIRC => Recirc(u32ne()?),
            OVS_ACTION_ATTR_HASH => {
                let b = fixed::<8>(ty, p)?;
                Hash {
                    alg: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    basis: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            OVS_ACTION_ATTR_PUSH_MPLS => {
                // struct ovs_action_push_mpls: be32 lse, be16 ethertype
                // (padded to 8 bytes by the C compiler).
                let b = fixed::<8>(ty, p)?;
                PushMpls {
                    lse: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    ethertype: u16::from_be_bytes([b[4], b[5]]),
                }
            }
            OVS_ACTION_ATTR_POP_MPLS => PopMpls(u16::from_be_bytes(fixed(ty, p)?)),
            OVS_ACTION_ATTR_CT => Ct(decode_ct(p)?),
            OVS_ACTION_ATTR_TRUNC => Trunc(u32ne()?),
            OVS_ACTION_ATTR_PUSH_ETH => {
                let b = fixed::<12>(ty, p)?;
                let mut src = [0u8; 6];
                let mut dst = [0u8; 6];
                src.copy_from_slice(&b[..6]);
                dst.copy_from_slice(&b[6..]);
                PushEth { src, dst }
            }
            OVS_ACTION_ATTR_POP_ETH => empty(PopEth)?,
            OVS_ACTION_ATTR_CT_CLEAR => empty(CtClear)?,
            OVS_ACTION_ATTR_PUSH_NSH => {
                let mut it = NlAttrIter::new(p);
                let a = it
                    .next()
                    .ok_or_else(|| OdpError::new("empty push_nsh action"))??;
                if a.ty != OVS_KEY_ATTR_NSH || it.next().is_some() {
                    return Err(OdpError::new("push_nsh action without one nsh key"));
                }
                PushNsh(decode_nsh(a.payload, false)?)
            }
            OVS_ACTION_ATTR_POP_NSH => empty(PopNsh)?,
            OVS_ACTION_ATTR_METER => Meter(u32ne()?),
            OVS_ACTION_ATTR_CLONE => Clone(decode_actions(p, depth + 1)?),
            OVS_ACTION_ATTR_CHECK_PKT_LEN => {
                let (mut len, mut gt, mut le) = (None, None, None);
                for a in NlAttrIter::new(p) {
                    let a = a?;
                    match a.ty {
                        OVS_CHECK_PKT_LEN_ATTR_PKT_LEN => len = Some(a.u16_ne()?),
                        OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_GREATER => {
                            gt = Some(decode_actions(a.payload, depth + 1)?)
                        }
                        OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_LESS_EQUAL => {
                            le = Some(decode_actions(a.payload, depth + 1)?)
                        }
                        _ => return Err(OdpError::new("unknown check_pkt_len attribute")),
                    }
                }
                let missing = || OdpError::new("incomplete check_pkt_len action");
                CheckPktLen {
                    pkt_len: len.ok_or_else(missing)?,
                    gt: gt.ok_or_else(missing)?,
                    le: le.ok_or_else(missing)?,
                }
            }
            OVS_ACTION_ATTR_ADD_MPLS => {
                let b = fixed::<8>(ty, p)?;
                AddMpls {
                    lse: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    ethertype: u16::from_be_bytes([b[4], b[5]]),
                    tun_flags: u16::from_ne_bytes([b[6], b[7]]),
                }
            }
            OVS_ACTION_ATTR_DEC_TTL => {
                let mut acts = None;
                for a in NlAttrIter::new(p) {
                    let a = a?;
                    if a.ty == OVS_DEC_TTL_ATTR_ACTION {
                        acts = Some(decode_actions(a.payload, depth + 1)?);
                    } else {
                        return Err(OdpError::new("unknown dec_ttl attribute"));
                    }
                }
                DecTtl(acts.ok_or_else(|| OdpError::new("dec_ttl without actions"))?)
            }
            OVS_ACTION_ATTR_DROP => Drop(u32ne()?),
            OVS_ACTION_ATTR_TUNNEL_PUSH => TunnelPush(super::tnl_push::TunnelPush::decode(p)?),
            OVS_ACTION_ATTR_TUNNEL_POP => TunnelPop(u32ne()?),
            OVS_ACTION_ATTR_LB_OUTPUT => LbOutput(u32ne()?),
            _ => Unknown {
                ty,
                data: p.to_vec(),
            },
        })
    }

    /// Appends the action to `w`.
    pub fn write_to(&self, w: &mut NlWriter) -> Result<()> {
        use Action::*;
        let ty = self.attr_type();
        match self {
            Output(v) | Recirc(v) | Trunc(v) | Meter(v) | Drop(v) | TunnelPop(v) | LbOutput(v) => {
                w.put_u32_ne(ty, *v)
            }
            Userspace(u) => {
                let o = w.start_nested(ty);
                w.put_u32_ne(OVS_USERSPACE_ATTR_PID, u.pid);
                if let Some(d) = &u.userdata {
                    w.put(OVS_USERSPACE_ATTR_USERDATA, d);
                }
                if let Some(p) = u.egress_tun_port {
                    w.put_u32_ne(OVS_USERSPACE_ATTR_EGRESS_TUN_PORT, p);
                }
                if u.actions {
                    w.put_flag(OVS_USERSPACE_ATTR_ACTIONS);
                }
                for (t, d) in &u.unknown {
                    w.put(*t, d);
                }
                w.end_nested(o);
            }
            Set(k) => {
                let o = w.start_nested(ty);
                k.write_to(w);
                w.end_nested(o);
            }
            SetMasked { key, mask } => {
                let o = w.start_nested(ty);
                let payload = match (key, mask) {
                    (KeyAttr::Nsh(k), KeyAttr::Nsh(m)) => encode_nsh_masked(k, m),
                    _ => {
                        let mut p = key.payload();
                        p.extend_from_slice(&mask.payload());
                        p
                    }
                };
                w.put(key.attr_type(), &payload);
                w.end_nested(o);
            }
            PushVlan { tpid, tci } => {
                let mut b = tpid.to_be_bytes().to_vec();
                b.extend_from_slice(&tci.to_be_bytes());
                w.put(ty, &b);
            }
            PopVlan | PopEth | CtClear | PopNsh => w.put_flag(ty),
            Sample {
                probability,
                actions,
            } => {
                let o = w.start_nested(ty);
                w.put_u32_ne(OVS_SAMPLE_ATTR_PROBABILITY, *probability);
                let a = w.start_nested(OVS_SAMPLE_ATTR_ACTIONS);
                for act in actions {
                    act.write_to(w)?;
                }
                w.end_nested(a);
                w.end_nested(o);
            }
            Hash { alg, basis } => {
                let mut b = alg.to_ne_bytes().to_vec();
                b.extend_from_slice(&basis.to_ne_bytes());
                w.put(ty, &b);
            }
            PushMpls { lse, ethertype } => {
                let mut b = lse.to_be_bytes().to_vec();
                b.extend_from_slice(&ethertype.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                w.put(ty, &b);
            }
            PopMpls(e) => w.put_u16_be(ty, *e),
            Ct(attrs) => {
                let o = w.start_nested(ty);
                encode_ct(w, attrs);
                w.end_nested(o);
            }
            PushEth { src, dst } => {
                let mut b = src.to_vec();
                b.extend_from_slice(dst);
                w.put(ty, &b);
            }
            PushNsh(attrs) => {
                let o = w.start_nested(ty);
                w.put(OVS_KEY_ATTR_NSH, &encode_nsh(attrs));
                w.end_nested(o);
            }
            Clone(actions) => {
                let o = w.start_nested(ty);
                for act in actions {
                    act.write_to(w)?;
                }
                w.end_nested(o);
            }
            CheckPktLen { pkt_len, gt, le } => {
                let o = w.start_nested(ty);
                w.put_u16_ne(OVS_CHECK_PKT_LEN_ATTR_PKT_LEN, *pkt_len);
                for (t, list) in [
                    (OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_GREATER, gt),
                    (OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_LESS_EQUAL, le),
                ] {
                    let a = w.start_nested(t);
                    for act in list {
                        act.write_to(w)?;
                    }
                    w.end_nested(a);
                }
                w.end_nested(o);
            }
            AddMpls {
                lse,
                ethertype,
                tun_flags,
            } => {
                let mut b = lse.to_be_bytes().to_vec();
                b.extend_from_slice(&ethertype.to_be_bytes());
                b.extend_from_slice(&tun_flags.to_ne_bytes());
                w.put(ty, &b);
            }
            DecTtl(actions) => {
                let o = w.start_nested(ty);
                let a = w.start_nested(OVS_DEC_TTL_ATTR_ACTION);
                for act in actions {
                    act.write_to(w)?;
                }
                w.end_nested(a);
                w.end_nested(o);
            }
            TunnelPush(t) => w.put(ty, &t.payload()),
            Unknown { data, .. } => w.put(ty, data),
        }
        Ok(())
    }
}

/// The masks (second halves) of a masked NSH set.
fn decode_nsh_masks(p: &[u8]) -> Result<Vec<NshAttr>> {
    let mut w = NlWriter::new();
    for a in NlAttrIter::new(p) {
        let a = a?;
        let d = a.payload;
        w.put(a.ty, &d[d.len() / 2..]);
    }
    decode_nsh(&w.buf, false)
}

fn encode_nsh_masked(key: &[NshAttr], mask: &[NshAttr]) -> Vec<u8> {
    let mut w = NlWriter::new();
    for (k, m) in key.iter().zip(mask.iter()) {
        let mut p = k.payload();
        p.extend_from_slice(&m.payload());
        w.put(k.attr_type(), &p);
    }
    w.buf
}

fn decode_ct(p: &[u8]) -> Result<Vec<CtAttr>> {
    let mut out = Vec::new();
    for a in NlAttrIter::new(p) {
        let a = a?;
        let d = a.payload;
        out.push(match a.ty {
            OVS_CT_ATTR_COMMIT => CtAttr::Commit,
            OVS_CT_ATTR_FORCE_COMMIT => CtAttr::ForceCommit,
            OVS_CT_ATTR_ZONE => CtAttr::Zone(a.u16_ne()?),
            OVS_CT_ATTR_MARK => {
                let b = a.fixed::<8>()?;
                CtAttr::Mark {
                    value: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    mask: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            OVS_CT_ATTR_LABELS => {
                let b = a.fixed::<32>()?;
                let mut v = [0u8; 16];
                let mut m = [0u8; 16];
                v.copy_from_slice(&b[..16]);
                m.copy_from_slice(&b[16..]);
                CtAttr::Labels {
                    value: u128::from_ne_bytes(v),
                    mask: u128::from_ne_bytes(m),
                }
            }
            OVS_CT_ATTR_HELPER => CtAttr::Helper(string_attr(d)?),
            OVS_CT_ATTR_TIMEOUT => CtAttr::Timeout(string_attr(d)?),
            OVS_CT_ATTR_EVENTMASK => CtAttr::EventMask(a.u32_ne()?),
            OVS_CT_ATTR_NAT => {
                let mut v = Vec::new();
                for n in NlAttrIter::new(d) {
                    let n = n?;
                    v.push(match n.ty {
                        OVS_NAT_ATTR_SRC => NatAttr::Src,
                        OVS_NAT_ATTR_DST => NatAttr::Dst,
                        OVS_NAT_ATTR_IP_MIN | OVS_NAT_ATTR_IP_MAX => {
                            if n.payload.len() != 4 && n.payload.len() != 16 {
                                return Err(OdpError::new("nat address of bad length"));
                            }
                            if n.ty == OVS_NAT_ATTR_IP_MIN {
                                NatAttr::IpMin(n.payload.to_vec())
                            } else {
                                NatAttr::IpMax(n.payload.to_vec())
                            }
                        }
                        OVS_NAT_ATTR_PROTO_MIN => NatAttr::ProtoMin(n.u16_ne()?),
                        OVS_NAT_ATTR_PROTO_MAX => NatAttr::ProtoMax(n.u16_ne()?),
                        OVS_NAT_ATTR_PERSISTENT => NatAttr::Persistent,
                        OVS_NAT_ATTR_PROTO_HASH => NatAttr::ProtoHash,
                        OVS_NAT_ATTR_PROTO_RANDOM => NatAttr::ProtoRandom,
                        t => NatAttr::Unknown {
                            ty: t,
                            data: n.payload.to_vec(),
                        },
                    });
                }
                CtAttr::Nat(v)
            }
            t => CtAttr::Unknown {
                ty: t,
                data: d.to_vec(),
            },
        });
    }
    Ok(out)
}

fn cstring(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    b
}

fn encode_ct(w: &mut NlWriter, attrs: &[CtAttr]) {
    for a in attrs {
        match a {
            CtAttr::Commit => w.put_flag(OVS_CT_ATTR_COMMIT),
            CtAttr::ForceCommit => w.put_flag(OVS_CT_ATTR_FORCE_COMMIT),
            CtAttr::Zone(z) => w.put_u16_ne(OVS_CT_ATTR_ZONE, *z),
            CtAttr::Mark { value, mask } => {
                let mut b = value.to_ne_bytes().to_vec();
                b.extend_from_slice(&mask.to_ne_bytes());
                w.put(OVS_CT_ATTR_MARK, &b);
            }
            CtAttr::Labels { value, mask } => {
                let mut b = value.to_ne_bytes().to_vec();
                b.extend_from_slice(&mask.to_ne_bytes());
                w.put(OVS_CT_ATTR_LABELS, &b);
            }
            CtAttr::Helper(h) => w.put(OVS_CT_ATTR_HELPER, &cstring(h)),
            CtAttr::Timeout(t) => w.put(OVS_CT_ATTR_TIMEOUT, &cstring(t)),
            CtAttr::EventMask(m) => w.put_u32_ne(OVS_CT_ATTR_EVENTMASK, *m),
            CtAttr::Nat(v) => {
                let o = w.start_nested(OVS_CT_ATTR_NAT);
                for n in v {
                    match n {
                        NatAttr::Src => w.put_flag(OVS_NAT_ATTR_SRC),
                        NatAttr::Dst => w.put_flag(OVS_NAT_ATTR_DST),
                        NatAttr::IpMin(a) => w.put(OVS_NAT_ATTR_IP_MIN, a),
                        NatAttr::IpMax(a) => w.put(OVS_NAT_ATTR_IP_MAX, a),
                        NatAttr::ProtoMin(p) => w.put_u16_ne(OVS_NAT_ATTR_PROTO_MIN, *p),
                        NatAttr::ProtoMax(p) => w.put_u16_ne(OVS_NAT_ATTR_PROTO_MAX, *p),
                        NatAttr::Persistent => w.put_flag(OVS_NAT_ATTR_PERSISTENT),
                        NatAttr::ProtoHash => w.put_flag(OVS_NAT_ATTR_PROTO_HASH),
                        NatAttr::ProtoRandom => w.put_flag(OVS_NAT_ATTR_PROTO_RANDOM),
                        NatAttr::Unknown { ty, data } => w.put(*ty, data),
                    }
                }
                w.end_nested(o);
            }
            CtAttr::Unknown { ty, data } => w.put(*ty, data),
        }
    }
}

// Open vSwitch's `struct user_action_cookie`, the 48-byte userdata of the
// userspace actions it builds (host byte order): type (u16) at 0, OpenFlow
// in_port (u32) at 4, ofproto UUID at 8, then per-type fields from 24.
pub(crate) const COOKIE_LEN: usize = 48;
pub(crate) const COOKIE_SFLOW: u16 = 1;
pub(crate) const COOKIE_SLOW_PATH: u16 = 2;
pub(crate) const COOKIE_FLOW_SAMPLE: u16 = 3;
pub(crate) const COOKIE_IPFIX: u16 = 4;
pub(crate) const COOKIE_CONTROLLER: u16 = 5;

pub(crate) fn slow_path_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        1 => "cfm",
        2 => "bfd",
        4 => "lacp",
        8 => "stp",
        16 => "lldp",
        32 => "action",
        64 => "match",
        _ => return None,
    })
}
