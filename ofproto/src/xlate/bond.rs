//! Bonds as NORMAL sees them: a Port with several Interfaces, each its
//! own OpenFlow port, forwarding as one.
//!
//! The daemon (`vswitchd::bond`) owns each bond's state: which members
//! are enabled (carrier, updelay/downdelay, `bond/enable-member`) and
//! which one is active. After every change it publishes an immutable
//! [`BridgeBonds`] per bridge here ([`publish`]); translation reads the
//! latest one. The choices NORMAL makes with it follow stock's
//! `bond_check_admissibility` and `choose_output_member`:
//!
//! - active-backup sends through the active member and accepts only
//!   what arrives on it;
//! - balance-slb sends a source MAC and VLAN through the member its hash
//!   picks among the enabled members (stock assigns each of its 256 hash
//!   buckets to an enabled member when first used and moves it only on
//!   rebalancing or failure; here a bucket maps to `enabled[bucket % n]`,
//!   so a MAC sticks to its member while the set of enabled members stays
//!   the same), accepts multicast only on the active member and drops
//!   what comes back from a MAC learned on another port (the reflection
//!   of its own flooding), gratuitous ARPs excepted;
//! - with LACP negotiated, a member accepts whatever it receives while
//!   it is enabled (the partner knows the bond), and sends by the
//!   bond's mode; LACP configured but not negotiated passes nothing
//!   unless `lacp-fallback-ab` makes the bond active-backup;
//! - balance-tcp needs recirculation by dp_hash, which ferrovs does not
//!   do: such a bond sends nothing (as stock without LACP).
//!
//! LACP frames (ethertype 0x8809) received on a member of a bond with
//! LACP never enter the pipeline: translation gives them stock's
//! `userspace(slow_path(lacp))` action ([`slow_path_lacp`]), and the
//! ACTION upcall it raises queues the frame for the daemon
//! ([`lacp_upcall`], [`take_lacp_frames`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

/// `bond_mode`, as stock spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BondMode {
    #[default]
    ActiveBackup,
    BalanceSlb,
    BalanceTcp,
}

impl BondMode {
    pub fn parse(s: &str) -> Option<BondMode> {
        match s {
            "active-backup" => Some(BondMode::ActiveBackup),
            "balance-slb" => Some(BondMode::BalanceSlb),
            "balance-tcp" => Some(BondMode::BalanceTcp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceSlb => "balance-slb",
            BondMode::BalanceTcp => "balance-tcp",
        }
    }
}

/// One bond as translation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondView {
    pub name: String,
    pub mode: BondMode,
    /// Every member's OpenFlow port, ascending; the first one names the
    /// bond in the MAC table (what a MAC is learned on).
    pub members: Vec<u16>,
    /// The enabled members, ascending.
    pub enabled: Vec<u16>,
    pub active: Option<u16>,
    /// other_config:bond-hash-basis.
    pub basis: u32,
    /// other_config:all-members-active (balance-slb only).
    pub all_members_active: bool,
    /// Hash buckets `bond/migrate` moved, to the member they go to.
    pub migrated: BTreeMap<u8, u16>,
    /// The bond runs LACP (`lacp=active|passive`). Until it is
    /// negotiated (lacp_status "configured") nothing passes, unless
    /// `lacp_fallback_ab`, which makes it active-backup.
    pub lacp_configured: bool,
    pub lacp_fallback_ab: bool,
    /// LACP found a partner (lacp_status "negotiated").
    pub lacp_negotiated: bool,
}

/// What the bond says about a packet received on one of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// Drop it when its source MAC was learned on another port.
    DropIfMoved,
}

impl BondView {
    /// The port MACs are learned on for this bond.
    pub fn bundle(&self) -> u16 {
        self.members.first().copied().unwrap_or(0)
    }

    /// Stock's `bond_check_admissibility`.
    pub fn admissibility(&self, member: u16, dst_is_multicast: bool) -> Verdict {
        if self.lacp_configured && self.lacp_negotiated {
            return if self.enabled.contains(&member) {
                Verdict::Accept
            } else {
                Verdict::Drop
            };
        }
        let refused = if self.lacp_configured {
            !self.lacp_fallback_ab
        } else {
            self.mode == BondMode::BalanceTcp
        };
        if refused {
            return Verdict::Drop;
        }
        let on_active = self.active == Some(member);
        if dst_is_multicast && !on_active && !self.all_members_active {
            return Verdict::Drop;
        }
        match self.mode {
            BondMode::BalanceSlb => Verdict::DropIfMoved,
            // balance-tcp gets here only falling back to active-backup.
            _ if on_active => Verdict::Accept,
            _ => Verdict::Drop,
        }
    }

    /// The member a packet from `src_mac` in `vlan` leaves by, if any.
    pub fn choose_output(&self, src_mac: [u8; 6], vlan: u16) -> Option<u16> {
        let mode = match (
            self.lacp_configured,
            self.lacp_negotiated,
            self.lacp_fallback_ab,
        ) {
            (false, _, _) | (true, true, _) => self.mode,
            (true, false, true) => BondMode::ActiveBackup,
            (true, false, false) => return None,
        };
        match mode {
            BondMode::ActiveBackup => self.active,
            BondMode::BalanceTcp => None,
            BondMode::BalanceSlb => {
                if self.enabled.is_empty() {
                    return None;
                }
                let bucket = (slb_hash(src_mac, vlan, self.basis) & 0xff) as u8;
                match self.migrated.get(&bucket) {
                    Some(m) if self.enabled.contains(m) => Some(*m),
                    _ => self
                        .enabled
                        .get(usize::from(bucket) % self.enabled.len())
                        .copied(),
                }
            }
        }
    }
}

/// Stock's `hash_mac`: the MAC with the VLAN above it, hashed with
/// `hash_uint64_basis` (as `bond/hash` prints it, masked to 0..255).
pub fn slb_hash(mac: [u8; 6], vlan: u16, basis: u32) -> u32 {
    let x = mac
        .iter()
        .fold(u64::from(vlan), |x, &b| (x << 8) | u64::from(b));
    super::multipath::hash_uint64_basis(x, basis)
}

/// A bridge's bonds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeBonds {
    pub bonds: Vec<BondView>,
    /// Member OpenFlow port to its index in `bonds`.
    by_member: HashMap<u16, usize>,
}

impl BridgeBonds {
    pub fn new(bonds: Vec<BondView>) -> BridgeBonds {
        let by_member = bonds
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.members.iter().map(move |&m| (m, i)))
            .collect();
        BridgeBonds { bonds, by_member }
    }

    /// The bond port `ofport` is a member of.
    pub fn of_member(&self, ofport: u16) -> Option<&BondView> {
        self.by_member.get(&ofport).and_then(|&i| self.bonds.get(i))
    }

    /// The port NORMAL learns and forwards by for `ofport`: its bond's
    /// bundle port, or itself.
    pub fn bundle(&self, ofport: u16) -> u16 {
        self.of_member(ofport).map_or(ofport, BondView::bundle)
    }
}

type Registry = RwLock<HashMap<String, Arc<BridgeBonds>>>;

fn registry() -> &'static Registry {
    static BONDS: OnceLock<Registry> = OnceLock::new();
    BONDS.get_or_init(Default::default)
}

/// Makes `bonds` the bonds of `bridge` (none: forgets them).
pub fn publish(bridge: &str, bonds: Option<BridgeBonds>) {
    let mut r = registry().write().unwrap_or_else(|e| e.into_inner());
    match bonds {
        Some(b) if !b.bonds.is_empty() => {
            r.insert(bridge.to_string(), Arc::new(b));
        }
        _ => {
            r.remove(bridge);
        }
    }
}

/// The bonds of `bridge` as last published.
pub fn of_bridge(bridge: &str) -> Option<Arc<BridgeBonds>> {
    let r = registry().read().unwrap_or_else(|e| e.into_inner());
    if r.is_empty() {
        return None;
    }
    r.get(bridge).cloned()
}

/// The slow protocols' ethertype (LACP).
pub const ETH_TYPE_SLOW: u16 = 0x8809;
/// Stock's slow-path reason bit for LACP.
const SLOW_LACP: u32 = 4;
/// USER_ACTION_COOKIE_SLOW_PATH.
const COOKIE_SLOW_PATH: u16 = 2;

impl BridgeBonds {
    /// Whether a frame with `eth_type` in on `ofport` is LACP's to handle.
    pub fn is_lacp_frame(&self, ofport: u16, eth_type: u16) -> bool {
        eth_type == ETH_TYPE_SLOW && self.of_member(ofport).is_some_and(|b| b.lacp_configured)
    }
}

/// The datapath action that sends LACP frames of bridge `bridge` to
/// the daemon: stock's `userspace(pid,slow_path(lacp))` (its 48-byte
/// cookie: type, OFPP_NONE, the bridge's uuid, the reason).
pub fn slow_path_lacp(bridge: &str) -> ferrovs_dpif::odp::Action {
    let mut c = vec![0u8; super::packet_in::COOKIE_LEN];
    c[0..2].copy_from_slice(&COOKIE_SLOW_PATH.to_ne_bytes());
    c[4..8].copy_from_slice(&0xffffu32.to_ne_bytes());
    c[8..24].copy_from_slice(&super::packet_in::bridge_uuid(bridge));
    c[28..32].copy_from_slice(&SLOW_LACP.to_ne_bytes());
    ferrovs_dpif::odp::Action::Userspace(ferrovs_dpif::odp::Userspace {
        pid: super::packet_in::upcall_pid(),
        userdata: Some(c),
        ..Default::default()
    })
}

impl super::Ctx<'_> {
    /// A LACP frame on a member of a bond running LACP goes to the
    /// daemon and nowhere else (stock's `process_special`). As stock,
    /// the first table is looked up (the megaflow takes what the lookup
    /// examined, the rule is credited and traced) but its actions do not
    /// run.
    pub(super) fn lacp_slow_path(&mut self, out: &mut Vec<super::Node>) -> bool {
        use crate::openflow::fields::id;
        let et = self.get(id::ETH_TYPE) as u16;
        if et != ETH_TYPE_SLOW {
            return false;
        }
        let in_port = self.get(id::IN_PORT) as u16;
        if !of_bridge(self.br.name).is_some_and(|b| b.is_lacp_frame(in_port, et)) {
            return false;
        }
        if let Some(cls) = self.br.tables.first() {
            let hit = cls
                .lookup_soft(&self.flow, &mut self.wc, |_| false, false)
                .hard
                .map(|(_, r)| r);
            if !self.in_ports.contains(&in_port) {
                self.in_ports.push(in_port);
            }
            if let Some(rule) = hit {
                self.rules.push(super::RuleHit {
                    bridge: super::interned_name(self.br.name),
                    table: 0,
                    mirrors: 0,
                    stats: Some(Arc::clone(&rule.stats)),
                });
                if self.br.describe_rules {
                    let text = super::rule_line(cls, rule, 0);
                    out.push(super::Node::new(super::NodeKind::Table, text));
                }
            }
        }
        self.actions.push(slow_path_lacp(self.br.name));
        true
    }
}

/// Whether `actions` are the LACP slow path alone (`ofproto/trace`
/// shows them as stock does: "drop", and why the slow path has it).
pub fn is_lacp_slow_path(actions: &[ferrovs_dpif::odp::Action]) -> bool {
    match actions {
        [ferrovs_dpif::odp::Action::Userspace(u)] => {
            u.userdata.as_deref().is_some_and(is_lacp_cookie)
        }
        _ => false,
    }
}

/// Whether a userspace action's cookie is the one [`slow_path_lacp`]
/// writes (slow path, reason LACP).
fn is_lacp_cookie(c: &[u8]) -> bool {
    c.len() == super::packet_in::COOKIE_LEN
        && c[0..2] == COOKIE_SLOW_PATH.to_ne_bytes()
        && c[28..32] == SLOW_LACP.to_ne_bytes()
}

/// A LACP frame received on a bond member: the bridge's uuid (as in the
/// cookie), the datapath port it came in on, the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LacpFrame {
    pub bridge_uuid: [u8; 16],
    pub odp_port: u32,
    pub frame: Vec<u8>,
}

/// At most this many frames wait for the daemon (a flood is dropped).
const LACP_QUEUE_MAX: usize = 1024;

fn lacp_queue() -> &'static std::sync::Mutex<Vec<LacpFrame>> {
    static Q: OnceLock<std::sync::Mutex<Vec<LacpFrame>>> = OnceLock::new();
    Q.get_or_init(Default::default)
}

/// Takes an ACTION upcall whose userdata is the LACP slow-path cookie
/// (`odp_port` from its key); false for any other upcall.
pub fn lacp_upcall(userdata: &[u8], odp_port: Option<u32>, packet: &[u8]) -> bool {
    if !is_lacp_cookie(userdata) {
        return false;
    }
    // In range: the cookie is COOKIE_LEN (48) bytes.
    let mut bridge_uuid = [0u8; 16];
    bridge_uuid.copy_from_slice(&userdata[8..24]);
    let mut q = lacp_queue().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(odp_port) = odp_port.filter(|_| q.len() < LACP_QUEUE_MAX) {
        q.push(LacpFrame {
            bridge_uuid,
            odp_port,
            frame: packet.to_vec(),
        });
    }
    true
}

/// The LACP frames received since the last call.
pub fn take_lacp_frames() -> Vec<LacpFrame> {
    std::mem::take(&mut *lacp_queue().lock().unwrap_or_else(|e| e.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bond(mode: BondMode, enabled: &[u16], active: Option<u16>) -> BondView {
        BondView {
            name: "bond0".into(),
            mode,
            members: vec![3, 5],
            enabled: enabled.to_vec(),
            active,
            basis: 0,
            all_members_active: false,
            migrated: BTreeMap::new(),
            lacp_configured: false,
            lacp_fallback_ab: false,
            lacp_negotiated: false,
        }
    }

    #[test]
    fn negotiated_lacp_accepts_on_enabled_members_and_sends_by_mode() {
        let mut b = bond(BondMode::ActiveBackup, &[3], Some(3));
        b.lacp_configured = true;
        b.lacp_negotiated = true;
        assert_eq!(b.admissibility(3, true), Verdict::Accept);
        assert_eq!(b.admissibility(5, false), Verdict::Drop);
        assert_eq!(b.choose_output([2, 0, 0, 0, 0, 1], 0), Some(3));
        b.mode = BondMode::BalanceSlb;
        assert_eq!(b.choose_output([2, 0, 0, 0, 0, 1], 0), Some(3));
        let bb = BridgeBonds::new(vec![b]);
        assert!(bb.is_lacp_frame(5, ETH_TYPE_SLOW));
        assert!(!bb.is_lacp_frame(5, 0x0800));
        assert!(!bb.is_lacp_frame(7, ETH_TYPE_SLOW));
    }

    #[test]
    fn the_lacp_cookie_round_trips_through_the_queue() {
        let ferrovs_dpif::odp::Action::Userspace(u) = slow_path_lacp("lacp-test-br") else {
            panic!("not a userspace action");
        };
        let c = u.userdata.unwrap_or_default();
        assert!(!lacp_upcall(&c[..20], Some(1), b"x"));
        assert!(!lacp_upcall(&[0; 48], Some(1), b"x"));
        assert!(lacp_upcall(&c, Some(7), b"frame"));
        let got = take_lacp_frames();
        let mine: Vec<_> = got
            .iter()
            .filter(|f| f.bridge_uuid == super::super::packet_in::bridge_uuid("lacp-test-br"))
            .collect();
        assert_eq!(mine.len(), 1);
        assert_eq!((mine[0].odp_port, &mine[0].frame[..]), (7, &b"frame"[..]));
    }

    #[test]
    fn lacp_without_a_partner_passes_nothing_unless_falling_back() {
        let mut b = bond(BondMode::BalanceSlb, &[3, 5], Some(3));
        b.lacp_configured = true;
        assert_eq!(b.choose_output([2, 0, 0, 0, 0, 1], 0), None);
        assert_eq!(b.admissibility(3, false), Verdict::Drop);
        b.lacp_fallback_ab = true;
        assert_eq!(b.choose_output([2, 0, 0, 0, 0, 1], 0), Some(3));
        // Stock's fallback keeps SLB's receive rules.
        assert_eq!(b.admissibility(5, false), Verdict::DropIfMoved);
        b.mode = BondMode::BalanceTcp;
        assert_eq!(b.admissibility(5, false), Verdict::Drop);
        assert_eq!(b.admissibility(3, false), Verdict::Accept);
    }

    #[test]
    fn active_backup_uses_and_accepts_the_active_member_only() {
        let b = bond(BondMode::ActiveBackup, &[3, 5], Some(5));
        assert_eq!(b.choose_output([0, 1, 2, 3, 4, 5], 0), Some(5));
        assert_eq!(b.admissibility(5, false), Verdict::Accept);
        assert_eq!(b.admissibility(3, false), Verdict::Drop);
        assert_eq!(b.admissibility(3, true), Verdict::Drop);
        let down = bond(BondMode::ActiveBackup, &[], None);
        assert_eq!(down.choose_output([0; 6], 0), None);
    }

    #[test]
    fn slb_sticks_per_mac_spreads_and_refuses_multicast_on_backups() {
        let b = bond(BondMode::BalanceSlb, &[3, 5], Some(3));
        let mut used = std::collections::BTreeSet::new();
        for i in 0..16u8 {
            let mac = [0x02, 0, 0, 0, 0, i];
            let m = b.choose_output(mac, 0).unwrap();
            assert_eq!(b.choose_output(mac, 0), Some(m));
            used.insert(m);
        }
        assert_eq!(used.len(), 2, "16 MACs all hashed to one member");
        assert_eq!(b.admissibility(5, true), Verdict::Drop);
        assert_eq!(b.admissibility(3, true), Verdict::DropIfMoved);
        assert_eq!(b.admissibility(5, false), Verdict::DropIfMoved);
        // A migrated bucket goes where it was sent while that member is
        // enabled.
        let mac = [0x02, 0, 0, 0, 0, 1];
        let bucket = (slb_hash(mac, 0, 0) & 0xff) as u8;
        let other = if b.choose_output(mac, 0) == Some(3) {
            5
        } else {
            3
        };
        let mut moved = b.clone();
        moved.migrated.insert(bucket, other);
        assert_eq!(moved.choose_output(mac, 0), Some(other));
        moved.enabled.retain(|&m| m != other);
        assert_ne!(moved.choose_output(mac, 0), Some(other));
        // One member left: everything goes there.
        let one = bond(BondMode::BalanceSlb, &[5], Some(5));
        assert_eq!(one.choose_output([2, 0, 0, 0, 0, 1], 7), Some(5));
    }

    #[test]
    fn balance_tcp_without_lacp_passes_nothing() {
        let b = bond(BondMode::BalanceTcp, &[3, 5], Some(3));
        assert_eq!(b.choose_output([2, 0, 0, 0, 0, 1], 0), None);
        assert_eq!(b.admissibility(3, false), Verdict::Drop);
    }

    #[test]
    fn slb_hash_is_stocks_hash_mac() {
        // `ovs-appctl bond/hash 00:00:00:00:00:01` on stock 3.1 answers
        // 68 and `bond/hash 50:54:00:00:00:07 10 5` answers 10 (Debian's
        // build uses the portable murmur hash; tests/suites/47-bonds
        // compares more).
        assert_eq!(slb_hash([0, 0, 0, 0, 0, 1], 0, 0) & 0xff, 68);
        assert_eq!(slb_hash([0x50, 0x54, 0, 0, 0, 7], 10, 5) & 0xff, 10);
    }

    #[test]
    fn bridges_find_bonds_by_member() {
        let bb = BridgeBonds::new(vec![bond(BondMode::ActiveBackup, &[3], Some(3))]);
        assert_eq!(bb.bundle(5), 3);
        assert_eq!(bb.bundle(7), 7);
        publish("bond-test-br", Some(bb.clone()));
        assert_eq!(of_bridge("bond-test-br").as_deref(), Some(&bb));
        publish("bond-test-br", None);
        assert!(of_bridge("bond-test-br").is_none());
    }
}
