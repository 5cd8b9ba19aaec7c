//! Inputs found by the cargo-fuzz targets in fuzz/ (odp_key, odp_actions,
//! odp_text) that broke a round trip, kept here as regression tests so that
//! `cargo test` checks them without libFuzzer.

use ferrovs_dpif::odp::{self, FormatOptions, Key};

/// An empty key prints as `<empty>`; that text must parse back to the empty
/// key (it did not: "syntax error at <empty>").
#[test]
fn empty_key_text_parses_back() {
    let empty = Key::default();
    assert_eq!(empty.to_text(), "<empty>");
    assert_eq!(Key::parse_text("<empty>"), Ok(empty));

    let flow = odp::parse_flow("", None).unwrap();
    let mut text = String::new();
    odp::format_flow(&flow.key, &flow.mask, &FormatOptions::default(), &mut text).unwrap();
    assert_eq!(text, "<empty>");
    assert_eq!(odp::parse_flow(&text, None).unwrap(), flow);

    // Only as the whole key: not next to other attributes.
    assert!(Key::parse_text("in_port(1),<empty>").is_err());
    assert!(Key::parse_text("<empty>,in_port(1)").is_err());
}

/// A NUL inside a ct timeout policy (or helper) name was taken into the
/// name, then cut there on decoding (a string attribute ends at NUL): the
/// printed text no longer gave the parsed bytes. NUL is refused now, in
/// actions and keys alike.
#[test]
fn nul_in_text_is_refused() {
    assert!(odp::parse_actions("ct(commit,timeout=ovs_t\0\0,nat(src))", None).is_err());
    assert!(odp::parse_actions("ct(commit,helper=ft\0p)", None).is_err());
    assert!(odp::parse_flow("in_port(1)\0", None).is_err());
    let ok = odp::parse_actions("ct(commit,timeout=ovs_t,nat(src))", None).unwrap();
    let mut text = String::new();
    odp::format_actions(&ok, &FormatOptions::default(), &mut text).unwrap();
    assert_eq!(text, "ct(commit,timeout=ovs_t,nat(src))");
}
