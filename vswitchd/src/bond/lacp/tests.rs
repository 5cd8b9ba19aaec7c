use super::pdu::{compose_frame, state};
use super::*;

fn cfg(id: u8, active: bool) -> LacpCfg {
    LacpCfg {
        active,
        sys_id: [2, 0, 0, 0, 0, id],
        sys_priority: 65534,
        fast: true,
        fallback_ab: false,
    }
}

fn bond(name: &str, id: u8, active: bool, now: Instant) -> Lacp {
    let mut l = Lacp::new(name, cfg(id, active));
    for (i, m) in ["a", "b"].iter().enumerate() {
        let port = i as u16 + 1;
        l.register(
            m,
            MemberCfg {
                port_id: port,
                port_priority: 65535,
                key: 0,
            },
            now,
        );
        l.initial_carrier(m, true);
    }
    l
}

/// Runs both sides at `now`, delivering each PDU member-to-member
/// (a<->a, b<->b) unless the link is in `cut`.
fn exchange(x: &mut Lacp, y: &mut Lacp, now: Instant, cut: &[&str]) {
    for _ in 0..3 {
        let (px, _) = x.run(now);
        let (py, _) = y.run(now);
        deliver(x, y, px, now, cut);
        deliver(y, x, py, now, cut);
    }
}

fn deliver(from: &Lacp, to: &mut Lacp, pdus: Vec<(String, Repr)>, now: Instant, cut: &[&str]) {
    for (name, r) in pdus {
        assert!(from.find(&name).is_some(), "PDU for unknown member {name}");
        if !cut.contains(&name.as_str()) {
            let f = compose_frame([2, 0, 0, 0, 1, r.actor.port_id as u8], &r);
            assert_eq!(to.receive(&name, &f, now), Rx::Taken);
        }
    }
}

#[test]
fn two_bonds_negotiate_then_expire_and_default() {
    let t0 = Instant::now();
    let s = |n: u64| t0 + Duration::from_millis(n);
    let mut x = bond("x", 1, true, t0);
    let mut y = bond("y", 2, false, t0);
    // Nothing heard yet: configured, nothing may be enabled; a passive
    // side does not speak first.
    let (sent, _) = y.run(t0);
    assert!(sent.is_empty());
    assert!(!x.negotiated && !x.may_enable("a"));
    exchange(&mut x, &mut y, t0, &[]);
    for l in [&x, &y] {
        assert!(l.negotiated, "{}", show(l));
        for m in ["a", "b"] {
            assert!(l.may_enable(m), "{}", show(l));
            assert_eq!(l.is_current(m), Some(true));
        }
    }
    let a = x.actor(0);
    assert_eq!(a.key, 1);
    assert_eq!(
        a.state,
        state::ACTIVITY
            | state::TIMEOUT
            | state::AGGREGATION
            | state::SYNC
            | state::COLLECTING
            | state::DISTRIBUTING
    );
    let text = show(&x);
    assert!(text.starts_with("---- x ----\n  status: active negotiated\n  sys_id: 02:00:00:00:00:01\n  sys_priority: 65534\n  aggregation key: 1\n  lacp_time: fast\n\nmember: a: current attached\n"), "{text}");
    assert!(text.contains("  partner sys_id: 02:00:00:00:00:02\n"));
    // Link b goes silent: expired after 3 s, defaulted after 3 more, and
    // only a stays usable.
    exchange(&mut x, &mut y, s(1000), &["b"]);
    exchange(&mut x, &mut y, s(3500), &["b"]);
    assert_eq!(x.members[1].status, Status::Expired);
    assert!(!x.may_enable("b") && x.may_enable("a"));
    exchange(&mut x, &mut y, s(7000), &["b"]);
    assert_eq!(x.members[1].status, Status::Defaulted);
    assert_eq!(x.is_current("b"), Some(false));
    assert!(x.negotiated && x.may_enable("a"));
    let stats = show_stats(&x);
    assert!(stats.contains("\nmember: b:\n"));
    assert!(
        stats.contains("  Link Expired: 1\n  Link Defaulted: 1\n"),
        "{stats}"
    );
}

#[test]
fn bad_frames_are_counted_and_dropped() {
    let now = Instant::now();
    let mut x = bond("x", 1, true, now);
    assert_eq!(x.receive("a", &[0u8; 10], now), Rx::Dropped);
    let mut marker = compose_frame([2; 6], &Repr::default());
    marker[14] = 2;
    assert_eq!(x.receive("a", &marker, now), Rx::Dropped);
    assert_eq!(x.receive("nope", &marker, now), Rx::Dropped);
    let c = x.members[0].counters;
    assert_eq!((c.rx, c.rx_bad, c.rx_marker), (2, 1, 1));
    assert!(!x.negotiated);
}

#[test]
fn fallback_attaches_defaulted_members_and_loopback_is_refused() {
    let now = Instant::now();
    let mut x = bond("x", 1, true, now);
    x.cfg.fallback_ab = true;
    x.update = true;
    x.run(now);
    x.run(now + Duration::from_secs(7));
    // As stock: usable, yet not negotiated (the bond falls back).
    assert!(x.may_enable("a") && !x.negotiated);
    // Our own PDUs coming back: no attachment.
    let mut y = bond("y", 1, true, now);
    exchange(&mut y.clone(), &mut y, now, &[]);
    assert!(!y.may_enable("a"));
}

/// The key member (registered first) need not be the bond's first
/// member: each PDU names the member it leaves by, and carries that
/// member's own port id. (The bond once sent PDUs by index into its own
/// member list, so with the key member second each PDU left by the
/// other link; the Linux bonding driver then never saw its partner in
/// sync and kept the aggregate from collecting.)
#[test]
fn pdus_name_their_member_whatever_the_registration_order() {
    let now = Instant::now();
    let mut l = Lacp::new("x", cfg(1, true));
    for (name, port) in [("b2", 3), ("b1", 2)] {
        l.register(
            name,
            MemberCfg {
                port_id: port,
                port_priority: 65535,
                key: 0,
            },
            now,
        );
        l.initial_carrier(name, true);
    }
    let (pdus, _) = l.run(now);
    let mut sent: Vec<(String, u16, u16)> = pdus
        .iter()
        .map(|(n, r)| (n.clone(), r.actor.port_id, r.actor.key))
        .collect();
    sent.sort();
    // Both carry the key member's (b2's) port id as key.
    assert_eq!(sent, vec![("b1".into(), 2, 3), ("b2".into(), 3, 3)]);
}
