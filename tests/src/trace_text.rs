//! Helpers for comparing `ofproto/trace` reports of two daemons: the
//! `Megaflow:` and `Datapath actions:` lines, datapath action lists split
//! at their top-level commas, and per-daemon numbers masked.

/// Splits a datapath action list at its top-level commas.
pub fn split_actions(a: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in a.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&a[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&a[start..]);
    out
}

/// Replaces the hex digits after each `prefix` with `N`.
pub fn mask_hex_after(s: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(prefix) {
        let (head, tail) = rest.split_at(at + prefix.len());
        out.push_str(head);
        out.push('N');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

/// The report's `Megaflow:` and `Datapath actions:` lines.
pub fn megaflow_and_actions(report: &str) -> String {
    report
        .lines()
        .filter(|l| l.starts_with("Megaflow:") || l.starts_with("Datapath actions:"))
        .collect::<Vec<_>>()
        .join("\n")
}
