//! `learn(...)` (NXAST_LEARN): a rule that adds or refreshes another rule
//! built from the packet's fields.
//!
//! Translation matches every source bit the learned rule takes from the
//! packet (the megaflow then covers only packets that would learn the
//! same rule), and, for real upcalls only (never `ofproto/trace`),
//! records the learned rule as a modify-strict-or-add flow_mod that the
//! service applies after translation ([`apply`]). Learned rules are
//! refreshed (their idle timer restarted) each time the learning flow is
//! translated or its datapath flow carries packets.

use super::{be, frange, storage_field, Ctx, Node, NodeKind};
use crate::openflow::actions::{port, Action, Instructions, SetFieldRaw};
use crate::openflow::fields::{by_header, Match, FIELDS};
use crate::openflow::text::format_match;
use crate::switch::{FlowMod, Switch};

const SEND_FLOW_REM: u16 = 1;
const DELETE_LEARNED: u16 = 2;

/// Where a spec takes its bits from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Src {
    Field(usize, u16),
    Imm(u128),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dst {
    Match(usize, u16),
    Load(usize, u16),
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    src: Src,
    dst: Dst,
    n_bits: u16,
}

/// A decoded NXAST_LEARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Learn {
    idle: u16,
    hard: u16,
    priority: u16,
    cookie: u64,
    flags: u16,
    table: u8,
    fin_idle: u16,
    fin_hard: u16,
    specs: Vec<Spec>,
}

/// What a translation learned, to apply to the bridge: when the packet
/// is handled, and again whenever its datapath flow carries packets (as
/// Open vSwitch's translation cache does), so that learned state lives
/// as long as the traffic that taught it.
#[derive(Clone)]
pub enum Learned {
    /// A rule made by a `learn` action (recorded only with side effects)
    /// in `bridge` (a patch port may have led translation there).
    Rule { bridge: String, rule: LearnedRule },
    /// NORMAL's source address learning in `bridge`: `mac` in `vlan` is
    /// on `port`.
    Mac {
        bridge: String,
        mac: [u8; 6],
        vlan: u16,
        port: u16,
    },
    /// Tunnel neighbour snooping in `bridge` (an ARP reply, a neighbour
    /// advertisement, or the outer source of a terminated tunnel packet):
    /// underlay address `ip` is at `mac`. Its flow's later packets refresh
    /// the neighbour cache entry, or teach it again after a
    /// `tnl/neigh/flush`, as a packet that missed would.
    Neighbour {
        bridge: String,
        ip: std::net::IpAddr,
        mac: [u8; 6],
    },
}

impl Learned {
    /// The bridge whose tables, MAC table or neighbours this changes.
    pub fn bridge(&self) -> &str {
        match self {
            Learned::Rule { bridge, .. }
            | Learned::Mac { bridge, .. }
            | Learned::Neighbour { bridge, .. } => bridge,
        }
    }
}

/// The flow_mod a `learn` action made.
#[derive(Clone)]
pub struct LearnedRule(pub(crate) Box<FlowMod>);

impl std::fmt::Debug for Learned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Learned::Rule {
                rule: LearnedRule(fm),
                ..
            } => write!(
                f,
                "Learned(table={} {} priority={})",
                fm.table_id,
                format_match(&fm.m, 32768),
                fm.priority
            ),
            Learned::Mac {
                mac, vlan, port, ..
            } => {
                write!(f, "LearnedMac({mac:02x?} vlan={vlan} port={port})")
            }
            Learned::Neighbour { ip, mac, .. } => {
                write!(f, "LearnedNeighbour({ip} at {mac:02x?})")
            }
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]))
}

/// Reads a field header (NXM, or OXM experimenter with its id) at `at`.
fn field(b: &[u8], at: &mut usize) -> Option<usize> {
    let h = b.get(*at..*at + 4).map(be)? as u32;
    *at += 4;
    let class = (h >> 16) as u16;
    let mut exp = 0;
    let mut len = (h & 0xff) as usize;
    if class == 0xffff {
        exp = b.get(*at..*at + 4).map(be)? as u32;
        *at += 4;
        len = len.saturating_sub(4);
    }
    by_header(class, exp, ((h >> 9) & 0x7f) as u8, len)
}

impl Learn {
    /// Decodes the action's wire bytes; None when they hold something
    /// translation cannot handle (more than 128 bits at once, unknown
    /// fields), which the decoder let through.
    pub fn parse(b: &[u8]) -> Option<Learn> {
        let mut l = Learn {
            idle: be16(b, 10)?,
            hard: be16(b, 12)?,
            priority: be16(b, 14)?,
            cookie: b.get(16..24).map(be)? as u64,
            flags: be16(b, 24)?,
            table: *b.get(26)?,
            fin_idle: be16(b, 28)?,
            fin_hard: be16(b, 30)?,
            specs: Vec::new(),
        };
        let mut at = 32;
        while let Some(h) = be16(b, at) {
            if h == 0 {
                break;
            }
            at += 2;
            let n_bits = h & 0x3ff;
            if n_bits == 0 || n_bits > 128 {
                return None;
            }
            let src = if h & (1 << 13) == 0 {
                let f = field(b, &mut at)?;
                let ofs = be16(b, at)?;
                at += 2;
                Src::Field(f, ofs)
            } else {
                let n = 2 * (n_bits as usize).div_ceil(16);
                let v = b.get(at..at + n).map(be)?;
                at += n;
                Src::Imm(v)
            };
            let dst = match (h >> 11) & 3 {
                0 | 1 => {
                    let f = field(b, &mut at)?;
                    let ofs = be16(b, at)?;
                    at += 2;
                    if (h >> 11) & 3 == 0 {
                        Dst::Match(f, ofs)
                    } else {
                        Dst::Load(f, ofs)
                    }
                }
                2 => Dst::Output,
                _ => return None,
            };
            l.specs.push(Spec { src, dst, n_bits });
        }
        Some(l)
    }

    /// As ovs-ofctl prints it.
    pub fn text(&self) -> String {
        let mut s = format!("learn(table={}", self.table);
        if self.idle != 0 {
            s.push_str(&format!(",idle_timeout={}", self.idle));
        }
        if self.hard != 0 {
            s.push_str(&format!(",hard_timeout={}", self.hard));
        }
        if self.fin_idle != 0 {
            s.push_str(&format!(",fin_idle_timeout={}", self.fin_idle));
        }
        if self.fin_hard != 0 {
            s.push_str(&format!(",fin_hard_timeout={}", self.fin_hard));
        }
        if self.priority != 32768 {
            s.push_str(&format!(",priority={}", self.priority));
        }
        if self.flags & SEND_FLOW_REM != 0 {
            s.push_str(",send_flow_rem");
        }
        if self.flags & DELETE_LEARNED != 0 {
            s.push_str(",delete_learned");
        }
        if self.cookie != 0 {
            s.push_str(&format!(",cookie={:#x}", self.cookie));
        }
        for sp in &self.specs {
            s.push(',');
            let hex = |v: u128| format!("{v:#x}");
            match (&sp.src, sp.dst) {
                (Src::Imm(v), Dst::Match(f, ofs)) => {
                    let whole = ofs == 0 && sp.n_bits as usize == FIELDS[f].bits as usize;
                    if whole {
                        s.push_str(&format!("{}={}", FIELDS[f].name, imm_value(f, *v)));
                    } else {
                        s.push_str(&format!("{}={}", subfield(f, ofs, sp.n_bits), hex(*v)));
                    }
                }
                (Src::Field(sf, so), Dst::Match(df, dofs)) => {
                    s.push_str(&subfield(df, dofs, sp.n_bits));
                    if *sf != df || *so != dofs {
                        s.push('=');
                        s.push_str(&subfield(*sf, *so, sp.n_bits));
                    }
                }
                (Src::Imm(v), Dst::Load(f, ofs)) => {
                    s.push_str(&format!(
                        "load:{}->{}",
                        hex(*v),
                        subfield(f, ofs, sp.n_bits)
                    ));
                }
                (Src::Field(sf, so), Dst::Load(f, ofs)) => s.push_str(&format!(
                    "load:{}->{}",
                    subfield(*sf, *so, sp.n_bits),
                    subfield(f, ofs, sp.n_bits)
                )),
                (Src::Field(sf, so), Dst::Output) => {
                    s.push_str(&format!("output:{}", subfield(*sf, *so, sp.n_bits)))
                }
                (Src::Imm(_), Dst::Output) => {}
            }
        }
        s.push(')');
        s
    }
}

/// A whole-field immediate as ovs-ofctl prints its value: decimal for
/// small integer fields, hex otherwise (addresses in their own syntax).
fn imm_value(f: usize, v: u128) -> String {
    let def = &FIELDS[f];
    match def.bits {
        48 => {
            let b = v.to_be_bytes();
            b[10..16]
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        }
        32 if def.name.contains("ip") || def.name.contains("nw_") => {
            std::net::Ipv4Addr::from(v as u32).to_string()
        }
        _ if def.bits <= 16 && !def.name.starts_with("reg") => format!("{v:#x}"),
        _ => format!("{v:#x}"),
    }
}

/// `NXM_OF_ETH_SRC[]`, `NXM_NX_REG0[0..15]`.
fn subfield(f: usize, ofs: u16, n: u16) -> String {
    let name = FIELDS[f].header_name;
    if ofs == 0 && n as usize == FIELDS[f].bits as usize {
        format!("{name}[]")
    } else if n == 1 {
        format!("{name}[{ofs}]")
    } else {
        format!("{name}[{}..{}]", ofs, ofs + n - 1)
    }
}

fn ones(n: u16) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

impl Ctx<'_> {
    /// `learn(...)`: see the module comment.
    pub(super) fn learn(&mut self, l: &Learn, out: &mut Vec<Node>) {
        let mut m = Match::catchall();
        let mut acts = Vec::new();
        for sp in &l.specs {
            let value = match sp.src {
                Src::Field(f, ofs) => {
                    let f = storage_field(f);
                    if frange(f).is_empty() {
                        continue;
                    }
                    self.unwildcard(f, ones(sp.n_bits).checked_shl(ofs as u32).unwrap_or(0));
                    self.get(f).checked_shr(ofs as u32).unwrap_or(0) & ones(sp.n_bits)
                }
                Src::Imm(v) => v & ones(sp.n_bits),
            };
            match sp.dst {
                Dst::Match(f, ofs) => {
                    let f = storage_field(f);
                    let mask = ones(sp.n_bits).checked_shl(ofs as u32).unwrap_or(0);
                    let (v0, m0) = m.get(f);
                    let v = value.checked_shl(ofs as u32).unwrap_or(0);
                    m.set(f, (v0 & !mask) | (v & mask), m0 | mask);
                }
                Dst::Load(f, ofs) => {
                    let mask = ones(sp.n_bits).checked_shl(ofs as u32).unwrap_or(0);
                    acts.push(Action::SetField {
                        field: f,
                        value: value.checked_shl(ofs as u32).unwrap_or(0) & mask,
                        mask,
                        raw: SetFieldRaw::RegLoad,
                    });
                }
                Dst::Output => {
                    let p = value as u16;
                    if value <= u16::MAX as u128
                        && (p < port::MAX
                            || [port::IN_PORT, port::FLOOD, port::LOCAL, port::ALL].contains(&p))
                    {
                        acts.push(Action::Output {
                            port: p,
                            max_len: 0,
                        });
                    }
                }
            }
        }
        if !self.br.side_effects {
            out.push(Node::new(
                NodeKind::Warn,
                "suppressing side effects, so learn action ignored".into(),
            ));
            return;
        }
        let fm = FlowMod {
            m,
            priority: l.priority,
            cookie: 0,
            cookie_mask: 0,
            new_cookie: Some(l.cookie),
            command: 2,
            table_id: l.table,
            idle: l.idle,
            hard: l.hard,
            importance: 0,
            out_port: port::NONE,
            out_group: crate::openflow::groups::ANY,
            flags: if l.flags & SEND_FLOW_REM != 0 { 1 } else { 0 },
            ins: Instructions {
                apply: acts,
                ..Instructions::default()
            },
            may_add: true,
        };
        self.learned.push(Learned::Rule {
            bridge: self.br.name.to_string(),
            rule: LearnedRule(Box::new(fm)),
        });
    }
}

/// Adds or refreshes learned rules (modify-strict, adding when missing;
/// the idle timer restarts). Returns whether any rule was added or its
/// actions changed, so that datapath flows must be revalidated.
pub fn apply(sw: &mut Switch, learned: &[Learned]) -> bool {
    let mut changed = false;
    // The clock is read once, and only if a MAC is to be learned.
    let mut now = None;
    for l in learned {
        // Entries for other bridges (reached through patch ports) are
        // theirs to apply.
        if l.bridge() != sw.name.as_str() {
            continue;
        }
        let fm = match l {
            Learned::Rule {
                rule: LearnedRule(fm),
                ..
            } => fm,
            Learned::Mac {
                mac, vlan, port, ..
            } => {
                // The MAC table tracks what its changes make stale
                // itself (the service's `l2_run` looks).
                let mut table = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
                let now = *now.get_or_insert_with(std::time::Instant::now);
                table.learn(*mac, *vlan, *port, now);
                continue;
            }
            // The neighbour cache is the topology's, not the switch's:
            // the caller refreshes it (see `Learned::Neighbour`).
            Learned::Neighbour { .. } => continue,
        };
        let prio = fm.priority as u32;
        let before = sw
            .tables
            .get(fm.table_id as usize)
            .and_then(|t| t.find_exact(&fm.m, prio))
            .map(|r| r.instructions.clone());
        if sw.flow_mod((**fm).clone()).is_err() {
            continue;
        }
        if let Some(rule) = sw
            .tables
            .get_mut(fm.table_id as usize)
            .and_then(|t| t.find_exact_mut(&fm.m, prio))
        {
            rule.stats
                .touch(*now.get_or_insert_with(std::time::Instant::now));
            changed |= before.as_ref() != Some(&rule.instructions);
        }
    }
    changed
}
