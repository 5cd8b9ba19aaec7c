//! `dpif/dump-flows [-m] [--names | --no-names] BRIDGE`: the datapath
//! flows of one bridge (those whose input port is one of its ports),
//! printed by `dpctl::flows::dump_for_ports`.

use std::collections::BTreeSet;

use crate::bridge::Bridges;

pub fn run(args: &[String], bridges: &Bridges) -> Result<String, String> {
    // As stock: the bridge is the last argument; options before it, with
    // unknown ones ignored; names are shown with -m unless told.
    let (name, options) = args.split_last().ok_or("no such bridge")?;
    let br = bridges.bridges.get(name).ok_or("no such bridge")?;
    let dpif = bridges.backers.get(&br.dp_type).ok_or("no such bridge")?;
    let verbose = options.iter().any(|o| o == "-m");
    let names = match options
        .iter()
        .rev()
        .find(|o| *o == "--names" || *o == "--no-names")
    {
        Some(o) => o == "--names",
        None => verbose,
    };
    let ports: BTreeSet<u32> = br.ifaces.values().filter_map(|i| i.odp_port).collect();
    crate::dpctl::flows::dump_for_ports(dpif, &ports, verbose, names)
}
