//! The text parsers of `ovs-dpctl add-flow` / `dpctl/add-flow`: a flow
//! match and an action list, from arbitrary UTF-8 (a user or a script
//! typed it).
//!
//! Properties: parsing never panics; what parses prints; and printing is
//! canonical after one round: parse -> print -> parse gives a flow (or an
//! action list) that prints and parses back to itself.
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use ferrovs_dpif::odp::{self, FormatOptions};
use libfuzzer_sys::fuzz_target;

/// Parses a flow match; if it parses, it prints, and the printed text
/// parses to a flow whose own printed text parses to that same flow again.
/// (The first print is not always a fixpoint: it leaves out wildcarded
/// fields, and a flow of only wildcards prints as `` as stock prints it,
/// which then reads back as the empty key, `<empty>`.)
fn check_flow(s: &str) {
    let Ok(flow) = odp::parse_flow(s, None) else {
        return;
    };
    let first = print_flow(&flow, s);
    let again = odp::parse_flow(&first, None)
        .unwrap_or_else(|e| panic!("printed flow {first:?} (from {s:?}) does not parse: {e}"));
    let second = print_flow(&again, &first);
    let third = odp::parse_flow(&second, None)
        .unwrap_or_else(|e| panic!("printed flow {second:?} (from {s:?}) does not parse: {e}"));
    assert_eq!(
        (&third.key, &third.mask),
        (&again.key, &again.mask),
        "flow {s:?} printed as {first:?} then {second:?} reads back differently"
    );
}

fn print_flow(flow: &odp::ParsedFlow, from: &str) -> String {
    let mut text = String::new();
    odp::format_flow(&flow.key, &flow.mask, &FormatOptions::default(), &mut text)
        .unwrap_or_else(|e| panic!("parsed flow {from:?} does not print: {e}"));
    text
}

/// Parses an action list; if it parses, it prints, and the printed text
/// parses to actions whose own printed text parses to those same actions.
/// (The first print may drop what the text gave but the value does not
/// keep, as stock: `set(ipv6(proto=107/0))` keeps 107 under a zero mask
/// and prints `set(ipv6())`.)
fn check_actions(s: &str) {
    let Ok(bytes) = odp::parse_actions(s, None) else {
        return;
    };
    let first = print_actions(&bytes, s);
    let again = odp::parse_actions(&first, None)
        .unwrap_or_else(|e| panic!("printed actions {first:?} (from {s:?}) do not parse: {e}"));
    let second = print_actions(&again, &first);
    let third = odp::parse_actions(&second, None)
        .unwrap_or_else(|e| panic!("printed actions {second:?} (from {s:?}) do not parse: {e}"));
    assert_eq!(
        third, again,
        "actions {s:?} printed as {first:?} then {second:?} read back differently"
    );
}

fn print_actions(bytes: &[u8], from: &str) -> String {
    let mut text = String::new();
    odp::format_actions(bytes, &FormatOptions::default(), &mut text)
        .unwrap_or_else(|e| panic!("parsed actions {from:?} do not print: {e}"));
    text
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // A whole `dump-flows` line is `MATCH actions:ACTIONS`; try the parts
    // and the whole string each way.
    check_flow(s);
    check_actions(s);
    if let Some((m, a)) = s.split_once(" actions:") {
        check_flow(m);
        check_actions(a);
    }
});
