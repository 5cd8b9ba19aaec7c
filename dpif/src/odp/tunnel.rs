//! Tunnel keys: the `OVS_TUNNEL_KEY_ATTR_*` attributes nested inside
//! `OVS_KEY_ATTR_TUNNEL` (and inside a `set(tunnel(...))` action).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::consts::*;
use super::nlattr::{NlAttrIter, NlWriter};
use super::{OdpError, Result};

/// One `OVS_VXLAN_EXT_*` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VxlanAttr {
    /// Group policy: flags in bits 16..24, policy id in bits 0..16.
    Gbp(u32),
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

/// One `OVS_TUNNEL_KEY_ATTR_*` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelAttr {
    Id(u64),
    Ipv4Src(Ipv4Addr),
    Ipv4Dst(Ipv4Addr),
    Tos(u8),
    Ttl(u8),
    DontFragment,
    Csum,
    Oam,
    /// Geneve options, raw TLVs (class, type, length, data).
    GeneveOpts(Vec<u8>),
    TpSrc(u16),
    TpDst(u16),
    VxlanOpts(Vec<VxlanAttr>),
    Ipv6Src(Ipv6Addr),
    Ipv6Dst(Ipv6Addr),
    /// Alignment padding the kernel may insert; kept for byte round trips.
    Pad(Vec<u8>),
    /// `struct erspan_metadata` (12 bytes: host-order version, then the
    /// version 1 index or the version 2 fields).
    ErspanOpts([u8; 12]),
    Ipv4InfoBridge,
    /// GTP-U flags and message type (userspace datapath only).
    GtpuOpts([u8; 2]),
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

fn fixed<const N: usize>(ty: u16, p: &[u8]) -> Result<[u8; N]> {
    p.try_into().map_err(|_| {
        OdpError::new(format!(
            "tunnel key attribute {ty} has length {}, expected {N}",
            p.len()
        ))
    })
}

impl TunnelAttr {
    pub fn attr_type(&self) -> u16 {
        use TunnelAttr::*;
        match self {
            Id(_) => OVS_TUNNEL_KEY_ATTR_ID,
            Ipv4Src(_) => OVS_TUNNEL_KEY_ATTR_IPV4_SRC,
            Ipv4Dst(_) => OVS_TUNNEL_KEY_ATTR_IPV4_DST,
            Tos(_) => OVS_TUNNEL_KEY_ATTR_TOS,
            Ttl(_) => OVS_TUNNEL_KEY_ATTR_TTL,
            DontFragment => OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT,
            Csum => OVS_TUNNEL_KEY_ATTR_CSUM,
            Oam => OVS_TUNNEL_KEY_ATTR_OAM,
            GeneveOpts(_) => OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS,
            TpSrc(_) => OVS_TUNNEL_KEY_ATTR_TP_SRC,
            TpDst(_) => OVS_TUNNEL_KEY_ATTR_TP_DST,
            VxlanOpts(_) => OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS,
            Ipv6Src(_) => OVS_TUNNEL_KEY_ATTR_IPV6_SRC,
            Ipv6Dst(_) => OVS_TUNNEL_KEY_ATTR_IPV6_DST,
            Pad(_) => OVS_TUNNEL_KEY_ATTR_PAD,
            ErspanOpts(_) => OVS_TUNNEL_KEY_ATTR_ERSPAN_OPTS,
            Ipv4InfoBridge => OVS_TUNNEL_KEY_ATTR_IPV4_INFO_BRIDGE,
            GtpuOpts(_) => OVS_TUNNEL_KEY_ATTR_GTPU_OPTS,
            Unknown { ty, .. } => *ty,
        }
    }

    pub fn decode(ty: u16, p: &[u8]) -> Result<TunnelAttr> {
        use TunnelAttr::*;
        let flag = |a: TunnelAttr| -> Result<TunnelAttr> {
            if p.is_empty() {
                Ok(a)
            } else {
                Err(OdpError::new(format!(
                    "tunnel flag attribute {ty} has length {}, expected 0",
                    p.len()
                )))
            }
        };
        Ok(match ty {
            OVS_TUNNEL_KEY_ATTR_ID => Id(u64::from_be_bytes(fixed(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_IPV4_SRC => Ipv4Src(Ipv4Addr::from(fixed::<4>(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_IPV4_DST => Ipv4Dst(Ipv4Addr::from(fixed::<4>(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_TOS => Tos(fixed::<1>(ty, p)?[0]),
            OVS_TUNNEL_KEY_ATTR_TTL => Ttl(fixed::<1>(ty, p)?[0]),
            OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT => flag(DontFragment)?,
            OVS_TUNNEL_KEY_ATTR_CSUM => flag(Csum)?,
            OVS_TUNNEL_KEY_ATTR_OAM => flag(Oam)?,
            OVS_TUNNEL_KEY_ATTR_IPV4_INFO_BRIDGE => flag(Ipv4InfoBridge)?,
            OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS => GeneveOpts(p.to_vec()),
            OVS_TUNNEL_KEY_ATTR_TP_SRC => TpSrc(u16::from_be_bytes(fixed(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_TP_DST => TpDst(u16::from_be_bytes(fixed(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS => {
                let mut v = Vec::new();
                for a in NlAttrIter::new(p) {
                    let a = a?;
                    v.push(match a.ty {
                        OVS_VXLAN_EXT_GBP => {
                            VxlanAttr::Gbp(u32::from_ne_bytes(fixed(ty, a.payload)?))
                        }
                        t => VxlanAttr::Unknown {
                            ty: t,
                            data: a.payload.to_vec(),
                        },
                    });
                }
                VxlanOpts(v)
            }
            OVS_TUNNEL_KEY_ATTR_IPV6_SRC => Ipv6Src(Ipv6Addr::from(fixed::<16>(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_IPV6_DST => Ipv6Dst(Ipv6Addr::from(fixed::<16>(ty, p)?)),
            OVS_TUNNEL_KEY_ATTR_PAD => Pad(p.to_vec()),
            OVS_TUNNEL_KEY_ATTR_ERSPAN_OPTS => ErspanOpts(fixed(ty, p)?),
            OVS_TUNNEL_KEY_ATTR_GTPU_OPTS => GtpuOpts(fixed(ty, p)?),
            _ => Unknown {
                ty,
                data: p.to_vec(),
            },
        })
    }

    pub fn payload(&self) -> Vec<u8> {
        use TunnelAttr::*;
        match self {
            Id(v) => v.to_be_bytes().to_vec(),
            Ipv4Src(a) | Ipv4Dst(a) => a.octets().to_vec(),
            Tos(v) | Ttl(v) => vec![*v],
            DontFragment | Csum | Oam | Ipv4InfoBridge => Vec::new(),
            GeneveOpts(d) | Pad(d) => d.clone(),
            TpSrc(v) | TpDst(v) => v.to_be_bytes().to_vec(),
            VxlanOpts(attrs) => {
                let mut w = NlWriter::new();
                for a in attrs {
                    match a {
                        VxlanAttr::Gbp(v) => w.put_u32_ne(OVS_VXLAN_EXT_GBP, *v),
                        VxlanAttr::Unknown { ty, data } => w.put(*ty, data),
                    }
                }
                w.buf
            }
            Ipv6Src(a) | Ipv6Dst(a) => a.octets().to_vec(),
            ErspanOpts(d) => d.to_vec(),
            GtpuOpts(d) => d.to_vec(),
            Unknown { data, .. } => data.clone(),
        }
    }

    /// An all-wildcard mask attribute of the same shape.
    pub fn zero_mask(&self) -> TunnelAttr {
        match self {
            TunnelAttr::VxlanOpts(attrs) => TunnelAttr::VxlanOpts(
                attrs
                    .iter()
                    .map(|a| match a {
                        VxlanAttr::Gbp(_) => VxlanAttr::Gbp(0),
                        VxlanAttr::Unknown { ty, data } => VxlanAttr::Unknown {
                            ty: *ty,
                            data: vec![0; data.len()],
                        },
                    })
                    .collect(),
            ),
            other => {
                let ty = other.attr_type();
                let zeros = vec![0u8; other.payload().len()];
                TunnelAttr::decode(ty, &zeros).unwrap_or(TunnelAttr::Unknown { ty, data: zeros })
            }
        }
    }
}

pub(crate) fn decode_tunnel(p: &[u8]) -> Result<Vec<TunnelAttr>> {
    let mut out = Vec::new();
    for a in NlAttrIter::new(p) {
        let a = a?;
        out.push(TunnelAttr::decode(a.ty, a.payload)?);
    }
    check_one_options_block(&out)?;
    Ok(out)
}

/// At most one block of tunnel options (geneve, vxlan, erspan), as the
/// kernel requires ("Multiple metadata blocks provided"). The text could
/// not show a second one either: each key attribute prints against the
/// first mask attribute of its type.
pub(crate) fn check_one_options_block(attrs: &[TunnelAttr]) -> Result<()> {
    use TunnelAttr::*;
    let n = attrs
        .iter()
        .filter(|a| matches!(a, GeneveOpts(_) | VxlanOpts(_) | ErspanOpts(_)))
        .count();
    if n > 1 {
        return Err(OdpError::new(format!(
            "tunnel key with {n} blocks of options (geneve, vxlan, erspan): at most one"
        )));
    }
    Ok(())
}

pub(crate) fn encode_tunnel(attrs: &[TunnelAttr]) -> Vec<u8> {
    let mut w = NlWriter::new();
    for a in attrs {
        w.put(a.attr_type(), &a.payload());
    }
    w.buf
}
