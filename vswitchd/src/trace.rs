//! `ovs-appctl ofproto/trace`: finds the bridge a flow enters, hands the
//! flow and the bridge's OpenFlow-to-datapath port map to the OpenFlow
//! service, and returns its report.
//!
//! Arguments as stock takes them: `BRIDGE FLOW` with an OpenFlow-syntax
//! flow (`in_port=1,tcp,...`), or `[DP] ODP_FLOW` with a datapath-syntax
//! flow (`in_port(1),eth(...),...`) whose `in_port` picks the bridge;
//! `DP` is the datapath type, or `ovs-` and the type.
//!
//! `ofproto/trace-packet-out` takes the same arguments and then the
//! actions of a packet-out (`-consistent` first, to check them against
//! the flow), which run instead of the tables.

use std::collections::HashMap;

use ferrovs_ofproto::openflow::action_parse::parse_actions;
use ferrovs_ofproto::xlate::{PacketOutTrace, TraceFlow, TraceRequest};

use crate::bridge::{Bridge, Bridges};
use crate::openflow::Openflow;

fn odp_ports(br: &Bridge) -> HashMap<u16, u32> {
    br.ifaces
        .values()
        .filter_map(|i| Some((i.ofport?, i.odp_port?)))
        .collect()
}

/// Runs `ofproto/trace-packet-out` with its arguments: the last one is
/// the actions (parsed first, as stock does), the others are
/// `ofproto/trace`'s.
pub fn ofproto_trace_packet_out(
    bridges: &Bridges,
    openflow: &Openflow,
    args: &[String],
) -> Result<String, String> {
    let (actions, rest) = args
        .split_last()
        .ok_or("ofproto/trace-packet-out needs a flow and actions")?;
    let actions = parse_actions(actions)?;
    let consistent = rest
        .iter()
        .any(|a| a == "-consistent" || a == "--consistent");
    trace_with(
        bridges,
        openflow,
        rest,
        Some(PacketOutTrace {
            actions,
            consistent,
        }),
    )
}

/// Runs `ofproto/trace` with its arguments.
pub fn ofproto_trace(
    bridges: &Bridges,
    openflow: &Openflow,
    args: &[String],
) -> Result<String, String> {
    trace_with(bridges, openflow, args, None)
}

fn trace_with(
    bridges: &Bridges,
    openflow: &Openflow,
    args: &[String],
    packet_out: Option<PacketOutTrace>,
) -> Result<String, String> {
    // --ct-next takes a value; other options and a trailing packet are
    // not supported yet: the flow arguments are the ones that do not
    // start with "-".
    let mut ct_next = Vec::new();
    let mut positional: Vec<&String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--ct-next" {
            let v = it
                .next()
                .ok_or_else(|| format!("Missing argument for option {a}"))?;
            ct_next.push(ferrovs_ofproto::xlate::parse_ct_next(v)?);
        } else if !a.starts_with('-') {
            positional.push(a);
        }
    }
    let args = positional;
    let (first, flow) = match args.as_slice() {
        [flow] => (None, flow.as_str()),
        [first, flow, ..] => (Some(first.as_str()), flow.as_str()),
        [] => return Err("ofproto/trace needs a flow".into()),
    };
    if is_odp_syntax(flow) {
        // The datapath flow names a datapath port: find its bridge.
        let key = ferrovs_dpif::odp::Key::parse_text(flow).map_err(|e| e.message)?;
        let in_port = key.attrs.iter().find_map(|a| match a {
            ferrovs_dpif::odp::KeyAttr::InPort(p) => Some(*p),
            _ => None,
        });
        let dp_type = match first {
            // As stock: the datapath type, possibly written "ovs-TYPE".
            Some(dp) => {
                let dp_type = dp.strip_prefix("ovs-").unwrap_or(dp);
                if !bridges.backers.contains_key(dp_type) {
                    return Err("Cannot find the datapath".into());
                }
                Some(dp_type.to_string())
            }
            None if bridges.backers.len() == 1 => bridges.backers.keys().next().cloned(),
            None => return Err("Cannot find the datapath".into()),
        };
        let br = bridges.bridges.values().find(|b| {
            Some(&b.dp_type) == dp_type.as_ref()
                && b.ifaces
                    .values()
                    .any(|i| i.odp_port.is_some() && i.odp_port == in_port)
        });
        let Some(br) = br else {
            return Err("no OpenFlow bridge contains the flow's in_port".into());
        };
        let req = TraceRequest {
            flow: TraceFlow::Odp(flow.to_string()),
            odp_ports: odp_ports(br),
            ct_next,
            packet_out,
        };
        return openflow.trace(&br.name, req);
    }
    let Some(name) = first else {
        return Err("Cannot find the datapath".into());
    };
    let Some(br) = bridges.bridges.get(name) else {
        return Err(format!("{name}: unknown bridge"));
    };
    let req = TraceRequest {
        flow: TraceFlow::OpenFlow(flow.to_string()),
        odp_ports: odp_ports(br),
        ct_next,
        packet_out,
    };
    openflow.trace(name, req)
}

/// Datapath flows are written with parentheses (`in_port(1)`), OpenFlow
/// ones with `=`.
fn is_odp_syntax(flow: &str) -> bool {
    let head = flow.split(',').next().unwrap_or("");
    head.contains('(')
}
