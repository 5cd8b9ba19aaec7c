//! Round trips of the datapath flow model over the corpus of Open vSwitch's
//! tests/odp.at (extracted by tests/data/gen-odp-corpus.py): text -> netlink
//! -> text gives the same text, and netlink -> text -> netlink the same
//! bytes.

use ferrovs_dpif::odp::{self, Actions, FormatOptions, Key};

fn corpus(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{}", env!("CARGO_MANIFEST_DIR"), name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn exact_keys_round_trip() {
    let lines = corpus("odp-keys.txt");
    assert!(lines.len() > 200);
    let mut failures = Vec::new();
    for line in &lines {
        let key = match Key::parse_text(line) {
            Ok(k) => k,
            Err(e) => {
                failures.push(format!("parse {line}: {e}"));
                continue;
            }
        };
        let bytes = key.to_nlattrs().unwrap();
        let back = Key::from_nlattrs(&bytes).unwrap();
        assert_eq!(back, key, "{line}");
        let text = back.to_text();
        if &text != line {
            failures.push(format!("in:  {line}\nout: {text}"));
            continue;
        }
        let again = Key::parse_text(&text).unwrap().to_nlattrs().unwrap();
        assert_eq!(again, bytes, "{line}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn masked_keys_round_trip() {
    let lines = corpus("odp-wc-keys.txt");
    assert!(lines.len() > 150);
    let mut failures = Vec::new();
    for line in &lines {
        let flow = match odp::parse_flow(line, None) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("parse {line}: {e}"));
                continue;
            }
        };
        let mut text = String::new();
        odp::format_flow(&flow.key, &flow.mask, &FormatOptions::default(), &mut text).unwrap();
        if &text != line {
            failures.push(format!("in:  {line}\nout: {text}"));
            continue;
        }
        let again = odp::parse_flow(&text, None).unwrap();
        assert_eq!(again, flow, "{line}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn actions_round_trip() {
    let lines = corpus("odp-actions.txt");
    assert!(lines.len() > 100);
    let mut failures = Vec::new();
    for line in &lines {
        let bytes = match odp::parse_actions(line, None) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("parse {line}: {e}"));
                continue;
            }
        };
        let mut text = String::new();
        odp::format_actions(&bytes, &FormatOptions::default(), &mut text).unwrap();
        if &text != line {
            failures.push(format!("in:  {line}\nout: {text}"));
            continue;
        }
        assert_eq!(odp::parse_actions(&text, None).unwrap(), bytes, "{line}");
        let decoded = Actions::from_nlattrs(&bytes).unwrap();
        assert_eq!(decoded.to_nlattrs().unwrap(), bytes, "{line}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
