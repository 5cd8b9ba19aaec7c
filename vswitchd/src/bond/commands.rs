//! The `bond/*` control commands, and `bond/show`'s text.

use std::time::Instant;

use ferrovs_ofproto::xlate::bond::{self as xbond, BondMode};

use super::{Bond, Bonds};

/// The `bond/*` control commands: (name, usage, min args, max args).
pub const COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("bond/list", "", 0, 0),
    ("bond/show", "[port]", 0, 1),
    ("bond/migrate", "port hash member", 3, 3),
    ("bond/set-active-member", "port member", 2, 2),
    ("bond/enable-member", "port member", 2, 2),
    ("bond/disable-member", "port member", 2, 2),
    ("bond/hash", "mac [vlan] [basis]", 1, 3),
];

/// Whether `method` is a command [`Bonds::command`] runs (the ones in
/// [`COMMANDS`] and stock's deprecated `*-slave` names).
pub fn handles(method: &str) -> bool {
    COMMANDS.iter().any(|c| c.0 == method)
        || matches!(method, "lacp/show" | "lacp/show-stats")
        || matches!(
            method,
            "bond/set-active-slave" | "bond/enable-slave" | "bond/disable-slave"
        )
}

impl Bond {
    /// `lacp_status` as stock names it.
    pub(super) fn lacp_status(&self) -> &'static str {
        match &self.lacp {
            None => "off",
            Some(l) if l.negotiated => "negotiated",
            Some(_) => "configured",
        }
    }

    /// Stock's `bond_is_balanced`.
    fn balanced(&self) -> bool {
        self.cfg.rebalance_interval > 0
            && self.cfg.mode != BondMode::ActiveBackup
            && !(self.cfg.lacp_fallback_ab && self.lacp_status() == "configured")
    }

    /// `bond/show`'s text for this bond, in stock's layout.
    pub(super) fn show(&self, now: Instant) -> String {
        use std::fmt::Write;
        let c = &self.cfg;
        let mut s = String::new();
        let _ = writeln!(s, "---- {} ----", c.name);
        let _ = writeln!(s, "bond_mode: {}", c.mode.as_str());
        s.push_str("bond may use recirculation: no, Recirc-ID : -1\n");
        let _ = writeln!(s, "bond-hash-basis: {}", c.basis);
        s.push_str("lb_output action: disabled, bond-id: -1\n");
        if c.mode == BondMode::BalanceSlb {
            let _ = writeln!(s, "all members active: {}", c.all_members_active);
        }
        let _ = writeln!(s, "updelay: {} ms", c.updelay);
        let _ = writeln!(s, "downdelay: {} ms", c.downdelay);
        if self.balanced() {
            let left = self
                .next_rebalance
                .saturating_duration_since(now)
                .as_millis();
            let _ = writeln!(s, "next rebalance: {left} ms");
        }
        let lacp = self.lacp_status();
        let _ = writeln!(s, "lacp_status: {lacp}");
        let _ = writeln!(s, "lacp_fallback_ab: {}", c.lacp_fallback_ab);
        let primary = match (&c.primary, self.primary_index()) {
            (None, _) => "<none>".to_string(),
            (Some(p), Some(_)) => p.clone(),
            (Some(p), None) => format!("{p} (no such member)"),
        };
        let _ = writeln!(s, "active-backup primary: {primary}");
        let owner = self
            .members
            .iter()
            .find(|m| m.mac == self.active_mac)
            .map_or("none", |m| m.name.as_str());
        let _ = writeln!(s, "active member mac: {}({owner})", self.active_mac);
        for (i, m) in self.members.iter().enumerate() {
            let state = if m.enabled { "enabled" } else { "disabled" };
            let _ = writeln!(s, "\nmember {}: {state}", m.name);
            if self.active == Some(i) {
                s.push_str("  active member\n");
            }
            if let Some(t) = m.delay_expires {
                let kind = if m.enabled { "downdelay" } else { "updelay" };
                let left = t.saturating_duration_since(now).as_millis();
                let _ = writeln!(s, "  {kind} expires in {left} ms");
            }
            let _ = writeln!(s, "  may_enable: {}", m.may_enable);
        }
        s.push('\n');
        s
    }
}

impl Bonds {
    fn find(&mut self, bond: &str, member: &str) -> Result<(&mut Bond, usize), String> {
        let b = self.bonds.get_mut(bond).ok_or("no such bond")?;
        let i = b
            .members
            .iter()
            .position(|m| m.name == member)
            .ok_or("no such member")?;
        Ok((b, i))
    }

    /// Runs a `bond/*` command (`cmd` without the prefix). After a
    /// command that changed something, [`Bonds::publish_changes`] tells
    /// translation.
    pub fn command(&mut self, cmd: &str, args: &[String], now: Instant) -> Result<String, String> {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        if let Some(verb) = cmd.strip_prefix("lacp/") {
            return self.lacp_command(verb, args);
        }
        match cmd {
            "list" => {
                let mut s = String::from("bond\ttype\trecircID\tmembers\n");
                for b in self.bonds.values() {
                    let names: Vec<&str> = b.members.iter().map(|m| m.name.as_str()).collect();
                    s.push_str(&format!(
                        "{}\t{}\t0\t{}\n",
                        b.cfg.name,
                        b.cfg.mode.as_str(),
                        names.join(", ")
                    ));
                }
                Ok(s)
            }
            "show" => match args.first() {
                Some(name) => self
                    .bonds
                    .get(name)
                    .map(|b| b.show(now))
                    .ok_or_else(|| "no such bond".to_string()),
                None => Ok(self.bonds.values().map(|b| b.show(now)).collect()),
            },
            "set-active-member" | "set-active-slave" => {
                let (b, i) = self.find(arg(0), arg(1))?;
                if !b.members[i].enabled {
                    return Err("cannot make disabled member active".into());
                }
                if b.active == Some(i) {
                    return Ok("no change".into());
                }
                b.active = Some(i);
                b.send_learning = true;
                log::info!(target: "bond", "bond {}: active member is now {}", b.cfg.name, b.members[i].name);
                b.active_changed();
                Ok("done".into())
            }
            "enable-member" | "enable-slave" | "disable-member" | "disable-slave" => {
                let enable = cmd.starts_with("enable");
                let (b, i) = self.find(arg(0), arg(1))?;
                b.set_enabled(i, enable);
                Ok(if enable { "enabled" } else { "disabled" }.into())
            }
            "migrate" => {
                let b = self.bonds.get_mut(arg(0)).ok_or("no such bond")?;
                if b.cfg.mode != BondMode::BalanceSlb {
                    return Err("not an SLB bond".into());
                }
                let h = arg(1);
                if !h.bytes().all(|c| c.is_ascii_digit()) {
                    return Err("bad hash".into());
                }
                // As stock's atoi, masked to a bucket.
                let bucket = h.bytes().fold(0u32, |n, c| {
                    n.wrapping_mul(10).wrapping_add(u32::from(c - b'0'))
                }) as u8;
                let m = b
                    .members
                    .iter()
                    .find(|m| m.name == arg(2))
                    .ok_or("no such member")?;
                if !m.enabled {
                    return Err("cannot migrate to disabled member".into());
                }
                b.migrated.insert(bucket, m.name.clone());
                Ok("migrated".into())
            }
            "hash" => {
                let vlan = match args.get(1) {
                    Some(v) => scan_u32(v).ok_or("invalid vlan")?,
                    None => 0,
                };
                let basis = match args.get(2) {
                    Some(v) => scan_u32(v).ok_or("invalid basis")?,
                    None => 0,
                };
                let mac = scan_mac(arg(0)).ok_or("invalid mac")?;
                // Stock hashes the VLAN as a 16-bit number.
                Ok(format!(
                    "{}",
                    xbond::slb_hash(mac, vlan as u16, basis) & 0xff
                ))
            }
            _ => Err(format!("\"bond/{cmd}\" is not a valid command")),
        }
    }
}

/// What C's `sscanf("%u")` takes: optional white space and sign, then
/// decimal digits, the rest ignored; a minus sign wraps, too many digits
/// saturate.
fn scan_u32(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let v = digits[..end].parse::<u64>().unwrap_or(u64::MAX);
    let v = u32::try_from(v).unwrap_or(u32::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Six colon-separated hex bytes of one or two digits, the rest ignored,
/// as stock's `ETH_ADDR_SCAN_FMT` reads them.
pub(super) fn scan_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut rest = s;
    for (i, b) in mac.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(':')?;
        }
        let n = rest
            .bytes()
            .take(2)
            .take_while(u8::is_ascii_hexdigit)
            .count();
        *b = u8::from_str_radix(rest.get(..n).filter(|d| !d.is_empty())?, 16).ok()?;
        rest = &rest[n..];
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::super::tests::bond;
    use super::*;
    use std::time::Duration;

    #[test]
    fn show_has_stocks_layout() {
        let now = Instant::now();
        let mut b = bond("active-backup", Some("p9"));
        b.choose_active(now);
        b.members[1].delay_expires = Some(now + Duration::from_millis(500));
        let s = b.show(now);
        let expected = "---- bond0 ----\n\
            bond_mode: active-backup\n\
            bond may use recirculation: no, Recirc-ID : -1\n\
            bond-hash-basis: 0\n\
            lb_output action: disabled, bond-id: -1\n\
            updelay: 0 ms\n\
            downdelay: 0 ms\n\
            lacp_status: off\n\
            lacp_fallback_ab: false\n\
            active-backup primary: p9 (no such member)\n\
            active member mac: 02:00:00:00:00:01(p1)\n\
            \n\
            member p1: enabled\n  active member\n  may_enable: true\n\
            \n\
            member p2: enabled\n  downdelay expires in 500 ms\n  may_enable: true\n\
            \n";
        assert_eq!(s, expected);
        let slb = bond("balance-slb", None).show(now);
        assert!(slb.contains("all members active: false\nupdelay: 0 ms\n"));
        assert!(slb.contains("next rebalance: "));
    }
    #[test]
    fn commands_answer_with_stocks_errors() {
        let mut bonds = Bonds::default();
        let mut b = bond("active-backup", None);
        b.choose_active(Instant::now());
        bonds.bonds.insert("bond0".into(), b);
        let now = Instant::now();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let run = |bonds: &mut Bonds, c: &str, a: &[&str]| bonds.command(c, &s(a), now);
        assert_eq!(
            run(&mut bonds, "set-active-member", &["nope", "p1"]),
            Err("no such bond".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "x"]),
            Err("no such member".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "p1"]),
            Ok("no change".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "p2"]),
            Ok("done".into())
        );
        assert_eq!(
            run(&mut bonds, "disable-member", &["bond0", "p1"]),
            Ok("disabled".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "p1"]),
            Err("cannot make disabled member active".into())
        );
        assert_eq!(
            run(&mut bonds, "list", &[]),
            Ok("bond\ttype\trecircID\tmembers\nbond0\tactive-backup\t0\tp1, p2\n".into())
        );
        assert_eq!(run(&mut bonds, "show", &["x"]), Err("no such bond".into()));
        assert_eq!(
            run(&mut bonds, "migrate", &["bond0", "1", "p2"]),
            Err("not an SLB bond".into())
        );
        assert_eq!(run(&mut bonds, "hash", &["zz"]), Err("invalid mac".into()));
        // As sscanf: trailing text ignored, "-1" wraps (to VLAN 0xffff).
        assert_eq!(
            run(&mut bonds, "hash", &["1:2:3:4:5:6", "-1"]),
            run(&mut bonds, "hash", &["01:02:03:04:05:06x", "65535"])
        );
        assert_eq!(scan_u32(" 12x"), Some(12));
        assert_eq!(scan_u32("x"), None);
        assert_eq!(scan_mac("00:11:22:33:44"), None);
        assert_eq!(
            run(&mut bonds, "hash", &["00:00:00:00:00:01", "x"]),
            Err("invalid vlan".into())
        );
    }
}
