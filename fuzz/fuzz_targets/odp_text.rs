//! The text parsers of `ovs-dpctl add-flow` / `dpctl/add-flow`: a flow
//! match and an action list, from arbitrary UTF-8 (a user or a script
//! typed it).
//!
//! Properties: parsing never panics; a parsed flow prints, and the text
//! printed from its printed text's flow reads back to that flow; parsed
//! actions print, and their printed text parses to the same bytes.
#![no_main]

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

/// Parses an action list; if it parses, its printed form must parse to the
/// same bytes.
fn check_actions(s: &str) {
    let Ok(bytes) = odp::parse_actions(s, None) else {
        return;
    };
    let mut text = String::new();
    odp::format_actions(&bytes, &FormatOptions::default(), &mut text)
        .unwrap_or_else(|e| panic!("parsed actions {s:?} do not print: {e}"));
    let again = odp::parse_actions(&text, None)
        .unwrap_or_else(|e| panic!("printed actions {text:?} (from {s:?}) do not parse: {e}"));
    assert_eq!(
        again, bytes,
        "actions {s:?} printed as {text:?} parse differently"
    );
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
