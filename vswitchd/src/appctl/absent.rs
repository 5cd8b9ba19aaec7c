//! Commands of features ferrovs does not run: LACP, STP, RSTP,
//! CFM, BFD, auto-attach (LLDP), multicast snooping and QoS. Each answers
//! exactly as stock 3.1 does when the feature is configured nowhere,
//! which is the truth here: ferrovs never has such an object.

use crate::bridge::Bridges;

/// `None` for a command this module does not know.
pub fn run(
    group: &str,
    verb: &str,
    args: &[String],
    bridges: &Bridges,
) -> Option<Result<String, String>> {
    let arg = args.first();
    // With no object named, listing commands list nothing and setting
    // commands act on every object (none); naming one finds none.
    let none_named = |listing: &str, err: &str| match arg {
        None => Ok(listing.to_string()),
        Some(_) => Err(err.to_string()),
    };
    Some(match (group, verb) {
        ("lacp", "show" | "show-stats") => none_named("", "no such lacp object"),
        ("stp", "show") => none_named("", "no such stp object"),
        ("stp", "tcn") => none_named("OK", "no such stp object"),
        ("rstp", "show") => none_named("", "No such RSTP object"),
        ("rstp", "tcn") => none_named("OK", "No such RSTP object"),
        ("cfm", "show") => none_named("", "no such CFM object"),
        ("bfd", "show") => none_named("", "no such bfd object"),
        ("cfm", "set-fault") => set_override(args, "no such CFM object"),
        ("bfd", "set-forwarding") => set_override(args, "no such BFD object"),
        ("autoattach", "status" | "show-isid" | "statistics") => Ok(String::new()),
        ("mdb", "show") => snooping(arg, bridges),
        ("mdb", "flush") => match arg {
            None => Ok("table successfully flushed".into()),
            Some(_) => snooping(arg, bridges),
        },
        ("qos", "show") => with_interface(arg, bridges, |i| format!("QoS not configured on {i}")),
        ("qos", "show-types") => with_interface(arg, bridges, |i| {
            format!("No QoS types supported for interface: {i}")
        }),
        ("dpif-netdev", "bond-show") => netdev_bond_show(arg, bridges),
        _ => return None,
    })
}

/// `cfm/set-fault` and `bfd/set-forwarding`: `[interface]
/// normal|false|true`; the value is checked first, as stock does.
fn set_override(args: &[String], no_such: &str) -> Result<String, String> {
    let value = args.last().map(String::as_str).unwrap_or_default();
    if !["true", "false", "normal"]
        .iter()
        .any(|v| v.eq_ignore_ascii_case(value))
    {
        return Err("unknown fault string".into());
    }
    if args.len() > 1 {
        return Err(no_such.into());
    }
    Ok("OK".into())
}

/// Multicast snooping on a named bridge: never enabled here.
fn snooping(bridge: Option<&String>, bridges: &Bridges) -> Result<String, String> {
    match bridge {
        Some(b) if bridges.bridges.contains_key(b) => Err("multicast snooping is disabled".into()),
        _ => Err("no such bridge".into()),
    }
}

fn with_interface(
    name: Option<&String>,
    bridges: &Bridges,
    text: impl Fn(&str) -> String,
) -> Result<String, String> {
    let name = name.ok_or("no such interface")?;
    if bridges
        .bridges
        .values()
        .any(|b| b.ifaces.contains_key(name.as_str()))
    {
        Ok(text(name))
    } else {
        Err("no such interface".into())
    }
}

/// `dpif-netdev/bond-show [dp]`: the userspace datapath named (or the
/// only one) has no bonds.
fn netdev_bond_show(dp: Option<&String>, bridges: &Bridges) -> Result<String, String> {
    let names: Vec<String> = bridges
        .netdev
        .keys()
        .filter_map(|t| bridges.backers.get(t))
        .map(|d| crate::bridge::lock_dpif(d).name().to_string())
        .collect();
    let found = match dp {
        Some(d) => names.iter().any(|n| n == d),
        None => names.len() == 1,
    };
    if found {
        Ok(String::new())
    } else {
        Err("please specify an existing datapath".into())
    }
}
