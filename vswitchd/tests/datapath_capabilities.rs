//! The Datapath table's `capabilities` and `ovs-appctl
//! dpif/show-dp-features`, against stock ovs-vswitchd: ovn-controller
//! creates a Datapath row for its bridge's datapath type and reads what
//! the switch writes there (`ct_zero_snat`, `ct_flush`, ...) to decide
//! which flows to install.
//!
//! The same steps run on each daemon (stock ovsdb-server, dummy
//! datapath): a Datapath row made before any bridge (not written), one
//! made once a bridge runs (written), keys set by hand in it and
//! `dpif/set-dp-features ... tnl_push_pop false` (nothing is written
//! again), a new row (written, with the run-time value), an unknown
//! bridge. ferrovs must write and print stock's keys and
//! lines, with stock's values except for the features ferrovs's
//! userspace datapath does not have ([`LACKING`]), which it must report
//! as missing. Then each of those is tried on ferrovs's datapath, and
//! must be refused there.

use std::collections::BTreeMap;
use std::path::Path;

use ferrovs_tests::sandbox::{ours_then_stock, text, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// One feature of [`LACKING`].
struct Lacking {
    key: &'static str,
    /// Empty for ct_flush, which `dpif/show-dp-features` does not show.
    title: &'static str,
    value: &'static str,
    refused: Option<(&'static str, &'static str)>,
}

const fn lacking(
    key: &'static str,
    title: &'static str,
    value: &'static str,
    refused: Option<(&'static str, &'static str)>,
) -> Lacking {
    Lacking {
        key,
        title,
        value,
        refused,
    }
}

/// Where ferrovs's userspace datapath differs from stock's: the
/// `capabilities` key, the `dpif/show-dp-features` title, ferrovs's
/// value, and a datapath flow (key, actions) that needs the feature and
/// that ferrovs's datapath must refuse, where one shows it. The others
/// are features translation never uses (so the datapath's own support
/// is not the point): `sample` and `encap` are not translated, commits
/// carry no event mask, and a drop is an empty action list.
const LACKING: &[Lacking] = &[
    lacking(
        "add_mpls",
        "MPLS Label add",
        "false",
        Some((
            IP_KEY,
            "add_mpls(label=1,tc=0,ttl=64,bos=1,eth_type=0x8847),1",
        )),
    ),
    lacking("ct_eventmask", "Conntrack eventmask", "false", None),
    // OVN reads it as "a 5-tuple flush works" (ferrovs flushes zones).
    lacking("ct_flush", "", "false", None),
    lacking(
        "ct_orig_tuple",
        "CT orig tuple",
        "false",
        Some((CT_TUPLE4_KEY, "1")),
    ),
    lacking(
        "ct_orig_tuple6",
        "CT orig tuple for IPv6",
        "false",
        Some((CT_TUPLE6_KEY, "1")),
    ),
    lacking(
        "ct_timeout",
        "Conntrack timeout policy",
        "false",
        Some((IP_KEY, "ct(commit,timeout=tp1),1")),
    ),
    lacking(
        "explicit_drop_action",
        "Explicit Drop action",
        "false",
        None,
    ),
    lacking(
        "lb_output_action",
        "Optimized Balance TCP mode",
        "false",
        Some((IP_KEY, "lb_output(1)")),
    ),
    // Two VLAN headers always: stock's other_config:vlan-limit defaults
    // to one, and ferrovs has no such setting.
    lacking("max_vlan_headers", "Max VLAN headers", "2", None),
    lacking(
        "nd_ext",
        "IPv6 ND Extension",
        "false",
        Some((ND_KEY, "set(nd_ext(nd_reserved=0x1,nd_options_type=2)),1")),
    ),
    lacking("sample_nesting", "Sample nesting", "0", None),
];

const IP_KEY: &str = "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no)";
const CT_TUPLE4_KEY: &str = "ct_tuple4(src=10.0.0.1,dst=10.0.0.2,proto=6,tp_src=1,tp_dst=2),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no)";
const CT_TUPLE6_KEY: &str = "ct_tuple6(src=::1,dst=::2,proto=6,tp_src=1,tp_dst=2),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x86dd),ipv6(src=::1,dst=::2,label=0,proto=6,tclass=0,hlimit=64,frag=no)";
const ND_KEY: &str = "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x86dd),ipv6(src=fe80::1,dst=fe80::2,label=0,proto=58,tclass=0,hlimit=255,frag=no),icmpv6(type=136,code=0),nd(target=fe80::1)";

/// The `capabilities` of the Datapath row of `dp_type`, from ovs-vsctl's
/// `{key="value", ...}`.
fn caps(sb: &Sandbox, dp_type: &str) -> BTreeMap<String, String> {
    let uuid = sb.vsctl_line(&format!("get Open_vSwitch . datapaths:{dp_type}"));
    let out = sb.vsctl_line(&format!("get Datapath {} capabilities", uuid.trim()));
    out.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(", ")
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.trim_matches('"').to_string()))
        })
        .collect()
}

/// Makes a new Datapath row the `datapaths` entry of `dp_type`.
fn new_datapath_row(sb: &Sandbox, dp_type: &str) {
    sb.vsctl_line(&format!(
        "-- --id=@d create Datapath datapath_version=0 \
         -- set Open_vSwitch . datapaths:{dp_type}=@d"
    ));
}

fn session(program: &Path, tag: &str) -> Vec<(String, String)> {
    let sb = Sandbox::with_vswitchd(&format!("dpcaps-{tag}"), program, DUMMY_ARGS);
    let mut seen = Vec::new();
    let show = |what: &str, seen: &mut Vec<(String, String)>| {
        let c: Vec<String> = caps(&sb, "dummy")
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        seen.push((what.to_string(), c.join("\n")));
    };
    // Stock writes a row's capabilities only when it first sees the
    // entry, and then only if a datapath of the type runs: here, never
    // (ferrovs would once the bridge comes, so the entry goes first).
    new_datapath_row(&sb, "dummy");
    show("a Datapath row, no bridge", &mut seen);
    sb.vsctl_line("remove Open_vSwitch . datapaths dummy");
    sb.vsctl_line(
        "add-br br0 -- set bridge br0 datapath_type=dummy \
         -- add-port br0 p1 -- set interface p1 type=dummy",
    );
    // As ovn-controller does once its bridge runs.
    new_datapath_row(&sb, "dummy");
    sb.wait_for(|| !caps(&sb, "dummy").is_empty(), "capabilities written")
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    show("a Datapath row for a running bridge's type", &mut seen);
    let out = sb.appctl(&["dpif/show-dp-features", "br0"]);
    seen.push(("dpif/show-dp-features br0".into(), text(&out.stdout)));
    let out = sb.appctl(&["dpif/show-dp-features", "nobr"]);
    seen.push((
        "dpif/show-dp-features nobr".into(),
        format!("rc={:?} {}", out.status.code(), text(&out.stderr)),
    ));
    // Written once: keys set by hand afterwards stay, ours or not, and
    // so does a run-time change of a feature.
    let uuid = sb.vsctl_line("get Open_vSwitch . datapaths:dummy");
    sb.vsctl_line(&format!(
        "set Datapath {} capabilities:ferrovs_test=kept capabilities:recirc=false",
        uuid.trim()
    ));
    sb.appctl(&["dpif/set-dp-features", "br0", "tnl_push_pop", "false"]);
    sb.vsctl_line("set bridge br0 other_config:x=1");
    show("keys set by hand, tnl_push_pop turned off", &mut seen);
    let out = sb.appctl(&["dpif/show-dp-features", "br0"]);
    seen.push((
        "dpif/show-dp-features br0, tnl_push_pop off".into(),
        text(&out.stdout),
    ));
    // A new entry is written again, with the run-time value.
    sb.vsctl_line("remove Open_vSwitch . datapaths dummy");
    new_datapath_row(&sb, "dummy");
    sb.wait_for(
        || !caps(&sb, "dummy").is_empty(),
        "capabilities written again",
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    show("a new row, tnl_push_pop off", &mut seen);
    seen
}

/// Stock's answer with ferrovs's values for the features it lacks.
fn stock_without_lacking(step: &str) -> String {
    step.lines()
        .map(|l| {
            for Lacking {
                key, title, value, ..
            } in LACKING
            {
                if l.starts_with(&format!("{key}=")) {
                    // The column says whether sampling nests at all.
                    let v = if *key == "sample_nesting" {
                        "false"
                    } else {
                        value
                    };
                    return format!("{key}={v}");
                }
                if !title.is_empty() && l.starts_with(&format!("{title}: ")) {
                    let shown = match *value {
                        "true" => "Yes",
                        "false" => "No",
                        n => n,
                    };
                    return format!("{title}: {shown}");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn capabilities_are_stocks_but_for_what_ferrovs_lacks() {
    let Some((ours, stock)) = ours_then_stock(
        "capabilities_are_stocks_but_for_what_ferrovs_lacks",
        FERROVS,
        session,
    ) else {
        return;
    };
    assert_eq!(ours.len(), stock.len());
    for ((what, o), (_, s)) in ours.iter().zip(&stock) {
        let o = o.lines().collect::<Vec<_>>().join("\n");
        assert_eq!(o, stock_without_lacking(s), "after {what}");
    }
}

/// Each feature of [`LACKING`] that a datapath flow shows is refused by
/// ferrovs's userspace datapath (`dpctl/add-flow` fails), and the same
/// key with a plain output is taken: the capability says what the
/// datapath does.
#[test]
fn what_ferrovs_reports_missing_its_datapath_refuses() {
    if !ferrovs_tests::sandbox::stock_ovs_available(
        "what_ferrovs_reports_missing_its_datapath_refuses",
    ) {
        return;
    }
    let sb = Sandbox::with_vswitchd("dpcaps-refuse", Path::new(FERROVS), DUMMY_ARGS);
    sb.vsctl_line(
        "add-br br0 -- set bridge br0 datapath_type=dummy \
         -- add-port br0 p1 -- set interface p1 type=dummy",
    );
    let caps = caps_after_bridge(&sb);
    for Lacking {
        key,
        value,
        refused: flow,
        ..
    } in LACKING
    {
        let shown = if *key == "sample_nesting" {
            "false"
        } else {
            value
        };
        assert_eq!(caps.get(*key).map(String::as_str), Some(shown), "{key}");
        let Some((match_key, actions)) = flow else {
            continue;
        };
        let out = sb.appctl(&["dpctl/add-flow", match_key, actions]);
        assert!(
            !out.status.success(),
            "{key}: the datapath took {actions}: {}",
            text(&out.stdout)
        );
        // The key alone is fine where the refusal is the actions'.
        if *match_key == IP_KEY {
            let out = sb.appctl(&["dpctl/add-flow", match_key, "1"]);
            assert!(out.status.success(), "{key}: {}", text(&out.stderr));
            sb.appctl(&["dpctl/del-flows"]);
        }
    }
    // And two VLAN headers are matched.
    let out = sb.appctl(&[
        "dpctl/add-flow",
        "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x88a8),vlan(vid=1,pcp=0),encap(eth_type(0x8100),vlan(vid=2,pcp=0),encap(eth_type(0x0800)))",
        "1",
    ]);
    assert!(out.status.success(), "two VLANs: {}", text(&out.stderr));
}

fn caps_after_bridge(sb: &Sandbox) -> BTreeMap<String, String> {
    new_datapath_row(sb, "dummy");
    sb.wait_for(|| !caps(sb, "dummy").is_empty(), "capabilities written")
        .unwrap_or_else(|e| panic!("{e}"));
    caps(sb, "dummy")
}
