//! Translation against a real switch state: rules added with OpenFlow
//! flow_mods' model (matches and instructions), traced as the daemon does.

use super::*;
use crate::openflow::actions::SetFieldRaw;
use crate::switch::Switch;

fn rule(instructions: Instructions) -> Rule {
    Rule::new(instructions)
}

fn apply(actions: Vec<Action>) -> Instructions {
    Instructions {
        apply: actions,
        ..Default::default()
    }
}

fn out(port: u16) -> Action {
    Action::Output { port, max_len: 0 }
}

fn switch() -> Switch {
    let mut sw = Switch::new("br0", 1);
    // in_port=1,actions=resubmit(,1) -- as NXAST_RESUBMIT_TABLE bytes.
    let mut m = Match::catchall();
    m.set_exact(id::IN_PORT, 1);
    let resubmit = vec![
        0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 14, 0xff, 0xf8, 1, 0, 0, 0,
    ];
    sw.tables[0].insert(
        &m,
        10,
        rule(apply(vec![Action::Nx {
            subtype: 14,
            bytes: resubmit,
        }])),
    );
    // table 1: tcp,tp_dst=80 -> set ip_dst, dec_ttl, output:2
    let mut m = Match::catchall();
    m.set_exact(id::ETH_TYPE, 0x0800);
    m.set_exact(id::NW_PROTO, 6);
    m.set_exact(id::TCP_DST, 80);
    sw.tables[1].insert(
        &m,
        10,
        rule(apply(vec![
            Action::SetField {
                field: id::IP_DST,
                value: 0x0a09_0909,
                mask: 0xffff_ffff,
                raw: SetFieldRaw::SetField,
            },
            Action::DecTtl,
            out(2),
        ])),
    );
    sw.tables[1].insert(&Match::catchall(), 0, rule(apply(vec![])));
    sw
}

fn ports() -> HashMap<u16, u32> {
    [(1, 11), (2, 12), (port::LOCAL, 100)].into_iter().collect()
}

fn xlate(sw: &Switch, flow: &str) -> (Xlated, Box<[u8; KEY_LEN]>) {
    let names = HashMap::new();
    let f = flow_text::parse_of_flow(flow, &names).expect("flow");
    let misses = vec![0; sw.tables.len()];
    let p = ports();
    let br = Bridge {
        name: "br0",
        tables: &sw.tables,
        table_miss: &misses,
        odp_ports: &p,
        groups: &sw.groups,
        side_effects: false,
        describe_rules: true,
        switch: None,
    };
    (translate(&br, &f), f)
}

#[test]
fn rewrites_become_one_masked_set_before_the_output() {
    let sw = switch();
    let (x, f) = xlate(&sw, "in_port=1,tcp,nw_dst=10.0.0.1,nw_ttl=64,tcp_dst=80");
    let mut acts = String::new();
    ferrovs_dpif::odp::action_text::format_action_list(&mut acts, &x.actions, &Default::default());
    assert_eq!(acts, "set(ipv4(dst=10.9.9.9,ttl=63)),12");
    assert_eq!(
        trace::format_megaflow(&f, &x.wc),
        "recirc_id=0,eth,tcp,in_port=1,nw_dst=10.0.0.1,nw_ttl=64,nw_frag=no,tp_dst=80"
    );
    assert!(x.error.is_none());
}

#[test]
fn a_translation_without_side_effects_still_names_its_rules_and_ports() {
    // Revalidations that may not learn translate this way; the flow's
    // later statistics are credited to these rules.
    let sw = switch();
    let (x, _) = xlate(&sw, "in_port=1,tcp,nw_dst=10.0.0.1,nw_ttl=64,tcp_dst=80");
    let tables: Vec<u8> = x.rules.iter().map(|r| r.table).collect();
    assert!(!tables.is_empty() && tables[0] == 0, "{tables:?}");
    assert!(x.rules.iter().all(|r| r.bridge == "br0"));
    assert_eq!(x.in_ports, vec![1]);
}

#[test]
fn a_miss_examines_only_what_decided_it() {
    let sw = switch();
    // Not TCP: table 1's tcp subtable is ruled out by the L3 stage, so
    // tcp_dst is not part of the megaflow; the catch-all drops.
    let (x, f) = xlate(&sw, "in_port=1,udp,nw_dst=10.0.0.1");
    assert!(x.actions.is_empty());
    assert_eq!(
        trace::format_megaflow(&f, &x.wc),
        "recirc_id=0,eth,udp,in_port=1,nw_frag=no"
    );
    // No rule for port 2 in table 0.
    let (x, _) = xlate(&sw, "in_port=2");
    assert!(x.actions.is_empty());
    let mut text = String::new();
    trace::print_nodes(&mut text, &x.trace, 0);
    assert!(text.contains(" 0. No match.\n    drop\n"), "{text}");
}

#[test]
fn resubmit_loops_stop_with_an_error() {
    let mut sw = Switch::new("br0", 1);
    let resubmit = vec![
        0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 14, 0xff, 0xf8, 0, 0, 0, 0,
    ];
    sw.tables[0].insert(
        &Match::catchall(),
        0,
        rule(apply(vec![Action::Nx {
            subtype: 14,
            bytes: resubmit,
        }])),
    );
    let (x, _) = xlate(&sw, "in_port=1");
    assert_eq!(x.error.as_deref(), Some("Recursion too deep"));
}

#[test]
fn bad_flows_are_errors_not_panics() {
    let names = HashMap::new();
    for bad in [
        "in_port=1,nosuch=3",
        "tcp_dst=80",
        "in_port=x",
        "dl_src=1:2:3",
        "nw_dst=300.1.1.1",
        "ip,nw_dst=1.2.3",
        "=",
        ",,,=,",
    ] {
        assert!(flow_text::parse_of_flow(bad, &names).is_err(), "{bad}");
    }
    let ofports = HashMap::new();
    let key = odp::Key::parse_text("in_port(7),eth_type(0x0800)").expect("key");
    assert!(flow_text::from_odp(&key, &ofports).is_err());
}

/// Stack the service thread gives translation (see `service`).
const SERVICE_STACK: usize = crate::service::THREAD_STACK;

#[test]
fn the_longest_resubmit_chain_fits_the_service_stack() {
    // Every table resubmits to the next and the last one back to table 0:
    // only going back deepens, so the chain ends at the resubmit limit
    // with thousands of nested tables.
    let mut sw = Switch::new("br0", 1);
    for t in 0..crate::switch::N_TABLES {
        let next = (t + 1) % crate::switch::N_TABLES;
        let resubmit = vec![
            0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 14, 0xff, 0xf8, next, 0, 0, 0,
        ];
        sw.tables[t as usize].insert(
            &Match::catchall(),
            0,
            rule(apply(vec![Action::Nx {
                subtype: 14,
                bytes: resubmit,
            }])),
        );
    }
    let error = std::thread::Builder::new()
        .stack_size(SERVICE_STACK)
        .spawn(move || xlate(&sw, "in_port=1").0.error)
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(error.as_deref(), Some("Too many resubmits"));
}

/// Random tables and flows (a fixed pseudo-random sequence): translation
/// never panics, and what it reports is consistent: the megaflow is a
/// subset of what the classifier could look at, and every lookup result
/// holds for any packet the megaflow matches (checked by re-translating
/// a packet that differs only outside the mask).
#[test]
fn random_pipelines_translate_consistently() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let fields = [
        id::IN_PORT,
        id::ETH_SRC,
        id::ETH_DST,
        id::IP_SRC,
        id::IP_DST,
        id::NW_PROTO,
        id::TCP_DST,
        id::REG0,
        id::METADATA,
    ];
    let (mut forwarded, mut dropped) = (0, 0);
    for round in 0..30 {
        let mut sw = Switch::new("br0", 1);
        for _ in 0..20 {
            let t = rnd(3) as usize;
            let mut m = Match::catchall();
            m.set_exact(id::ETH_TYPE, 0x0800);
            for _ in 0..rnd(3) {
                let f = fields[rnd(fields.len() as u64) as usize];
                if f == id::TCP_DST {
                    m.set_exact(id::NW_PROTO, 6);
                }
                let bits = (FIELDS[f].width as u32 * 8).min(32);
                let plen = 1 + rnd(bits as u64) as u32;
                let mask = ((1u128 << bits) - 1) ^ ((1u128 << (bits - plen)) - 1);
                m.set(f, rnd(4) as u128 * 0x0101_0101, mask);
            }
            let mut acts = Vec::new();
            for _ in 0..rnd(4) {
                acts.push(match rnd(6) {
                    0 => out(1 + rnd(3) as u16),
                    1 => Action::SetField {
                        field: id::IP_DST,
                        value: rnd(1 << 32) as u128,
                        mask: 0xffff_ffff,
                        raw: SetFieldRaw::SetField,
                    },
                    2 => Action::DecTtl,
                    3 => Action::Nx {
                        subtype: 14,
                        bytes: vec![
                            0xff,
                            0xff,
                            0,
                            16,
                            0,
                            0,
                            0x23,
                            0x20,
                            0,
                            14,
                            0xff,
                            0xf8,
                            rnd(3) as u8,
                            0,
                            0,
                            0,
                        ],
                    },
                    4 => Action::SetField {
                        field: id::REG0,
                        value: rnd(4) as u128,
                        mask: 0xffff_ffff,
                        raw: SetFieldRaw::RegLoad,
                    },
                    _ => Action::PushVlan(0x8100),
                });
            }
            sw.tables[t].insert(&m, rnd(100) as u32, rule(apply(acts)));
        }
        for _ in 0..20 {
            let flow = format!(
                "in_port={},tcp,nw_src={}.0.0.{},nw_dst={}.1.1.1,tcp_dst={},nw_ttl={}",
                1 + rnd(3),
                rnd(4),
                rnd(4),
                rnd(4),
                rnd(4) * 257,
                rnd(3)
            );
            let (x, f) = xlate(&sw, &flow);
            if x.actions
                .iter()
                .any(|a| matches!(a, odp::Action::Output(_)))
            {
                forwarded += 1;
            } else {
                dropped += 1;
            }
            // A packet that differs only where the megaflow does not look
            // must translate the same way.
            let mut other = f.clone();
            for (i, b) in other.iter_mut().enumerate() {
                *b ^= !x.wc[i] & (rnd(256) as u8);
            }
            // Keep it a TCP/IPv4 packet with its metadata (not looked at
            // by the datapath: registers and metadata start at zero).
            // (Untagged too: a tag changes the datapath key's shape.)
            for fld in [
                id::ETH_TYPE,
                id::NW_PROTO,
                id::IP_FRAG,
                id::RECIRC_ID,
                id::VLAN_TCI,
            ] {
                other[range(fld)].copy_from_slice(&f[range(fld)]);
            }
            for fld in (id::DP_HASH..=id::REG15)
                .chain(id::TUN_METADATA0..=id::TUN_METADATA63)
                .filter(|&g| g != id::IN_PORT && is_storage(g))
            {
                other[range(fld)].copy_from_slice(&f[range(fld)]);
            }
            let misses = vec![0; sw.tables.len()];
            let p = ports();
            let br = Bridge {
                name: "br0",
                tables: &sw.tables,
                table_miss: &misses,
                odp_ports: &p,
                groups: &sw.groups,
                side_effects: false,
                describe_rules: false,
                switch: None,
            };
            let y = translate(&br, &other);
            // Rewrites carry the packet's own values where it was not
            // looked at; compare the actions' shape and outputs.
            let shape = |v: &[odp::Action]| -> Vec<String> {
                v.iter()
                    .map(|a| match a {
                        odp::Action::Output(p) => format!("out{p}"),
                        odp::Action::SetMasked { .. } | odp::Action::Set(_) => "set".into(),
                        // Each packet-in gets its own recirculation id.
                        odp::Action::Userspace(_) => "userspace".into(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            };
            assert_eq!(
                shape(&x.actions),
                shape(&y.actions),
                "round {round}: {flow}: a packet the megaflow matches translates differently"
            );
        }
    }
    // The corpus must exercise both outcomes.
    assert!(
        forwarded > 50 && dropped > 50,
        "{forwarded} forwarded, {dropped} dropped"
    );
}

/// The compile-time field ranges are the definition's: storage fields
/// their bytes, xregs and xxregs their registers, other aliases none.
#[test]
fn field_ranges_follow_the_layout() {
    for f in 0..N_FIELDS + 2 {
        let want = if (id::XREG0..=id::XREG7).contains(&f) {
            let start = range(id::REG0 + 2 * (f - id::XREG0)).start;
            start..start + 8
        } else if (id::XXREG0..=id::XXREG3).contains(&f) {
            let start = range(id::REG0 + 4 * (f - id::XXREG0)).start;
            start..start + 16
        } else if is_storage(f) {
            range(f)
        } else {
            0..0
        };
        assert_eq!(frange(f), want, "field {f}");
    }
}
