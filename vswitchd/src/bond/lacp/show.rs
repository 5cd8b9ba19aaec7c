//! `lacp/show` and `lacp/show-stats` texts, in stock's layout.

use std::fmt::Write;

use super::pdu::{state, Info};
use super::{Lacp, Status};

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn state_words(s: u8) -> String {
    [
        (state::ACTIVITY, " activity"),
        (state::TIMEOUT, " timeout"),
        (state::AGGREGATION, " aggregation"),
        (state::SYNC, " synchronized"),
        (state::COLLECTING, " collecting"),
        (state::DISTRIBUTING, " distributing"),
        (state::DEFAULTED, " defaulted"),
        (state::EXPIRED, " expired"),
    ]
    .iter()
    .filter(|(bit, _)| s & bit != 0)
    .map(|(_, w)| *w)
    .collect()
}

fn info(s: &mut String, who: &str, i: &Info) {
    let _ = writeln!(s, "  {who} sys_id: {}", mac(&i.sys_id));
    let _ = writeln!(s, "  {who} sys_priority: {}", i.sys_priority);
    let _ = writeln!(s, "  {who} port_id: {}", i.port_id);
    let _ = writeln!(s, "  {who} port_priority: {}", i.port_priority);
    let _ = writeln!(s, "  {who} key: {}", i.key);
    let _ = writeln!(s, "  {who} state:{}", state_words(i.state));
}

/// Members' indexes sorted by name.
fn by_name(l: &Lacp) -> Vec<usize> {
    let mut v: Vec<usize> = (0..l.members.len()).collect();
    v.sort_by(|&a, &b| l.members[a].name.cmp(&l.members[b].name));
    v
}

/// One bond's `lacp/show` section.
pub fn show(l: &Lacp) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---- {} ----", l.name);
    let _ = writeln!(
        s,
        "  status: {}{}",
        if l.cfg.active { "active" } else { "passive" },
        if l.negotiated { " negotiated" } else { "" }
    );
    let _ = writeln!(s, "  sys_id: {}", mac(&l.cfg.sys_id));
    let _ = writeln!(s, "  sys_priority: {}", l.cfg.sys_priority);
    match l.key() {
        Some(k) => {
            let _ = writeln!(s, "  aggregation key: {k}");
        }
        None => s.push_str("  aggregation key: none\n"),
    }
    let _ = writeln!(
        s,
        "  lacp_time: {}",
        if l.cfg.fast { "fast" } else { "slow" }
    );
    for i in by_name(l) {
        let m = &l.members[i];
        let status = match m.status {
            Status::Current => "current",
            Status::Expired => "expired",
            Status::Defaulted => "defaulted",
        };
        let attached = if m.attached { "attached" } else { "detached" };
        let _ = writeln!(s, "\nmember: {}: {status} {attached}", m.name);
        let _ = writeln!(s, "  port_id: {}", m.cfg.port_id);
        let _ = writeln!(s, "  port_priority: {}", m.cfg.port_priority);
        let _ = writeln!(s, "  may_enable: {}", l.member_may_enable(m));
        s.push('\n');
        info(&mut s, "actor", &l.actor(i));
        s.push('\n');
        info(&mut s, "partner", &m.partner);
    }
    s
}

/// One bond's `lacp/show-stats` section.
pub fn show_stats(l: &Lacp) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---- {} statistics ----", l.name);
    for i in by_name(l) {
        let m = &l.members[i];
        let c = &m.counters;
        let _ = writeln!(s, "\nmember: {}:", m.name);
        let _ = writeln!(s, "  TX PDUs: {}", c.tx);
        let _ = writeln!(s, "  RX PDUs: {}", c.rx);
        let _ = writeln!(s, "  RX Bad PDUs: {}", c.rx_bad);
        let _ = writeln!(s, "  RX Marker Request PDUs: {}", c.rx_marker);
        let _ = writeln!(s, "  Link Expired: {}", c.expired);
        let _ = writeln!(s, "  Link Defaulted: {}", c.defaulted);
        let _ = writeln!(s, "  Carrier Status Changed: {}", c.carrier_changed);
    }
    s
}
