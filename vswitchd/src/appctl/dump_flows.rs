//! `bridge/dump-flows [--offload-stats] BRIDGE`: every rule of the
//! bridge, hidden ones included, one line each (the text is built by
//! `ofproto::Switch::dump_flows_text`).

use crate::bridge::Bridges;

pub fn run(args: &[String], bridges: &Bridges) -> Result<String, String> {
    // As stock: the bridge is the last argument, options come before it
    // and unknown ones are ignored.
    let (name, options) = args.split_last().ok_or("Unknown bridge")?;
    let br = bridges.bridges.get(name).ok_or("Unknown bridge")?;
    let Some(of) = &br.openflow else {
        return Err(format!(
            "{name}: no OpenFlow tables in this build of ferrovs-vswitchd"
        ));
    };
    let text = of.dump_flows();
    if options.iter().any(|o| o == "--offload-stats") {
        Ok(with_offload_stats(&text))
    } else {
        Ok(text)
    }
}

/// Adds the hardware offload counters after each line's byte count:
/// ferrovs offloads nothing to hardware, so they are zero.
fn with_offload_stats(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for line in text.lines() {
        match line.find("n_bytes=").and_then(|i| {
            let end = i + line[i..].find(", ")? + 2;
            Some(end)
        }) {
            Some(end) => {
                out.push_str(&line[..end]);
                out.push_str("n_offload_packets=0, n_offload_bytes=0, ");
                out.push_str(&line[end..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offload_counters_follow_the_byte_count() {
        let t = "duration=1s, n_packets=0, n_bytes=0, ,actions=drop\n\
                 table_id=254, duration=1s, n_packets=2, n_bytes=120, priority=2,recirc_id=0,actions=drop\n";
        assert_eq!(
            with_offload_stats(t),
            "duration=1s, n_packets=0, n_bytes=0, n_offload_packets=0, n_offload_bytes=0, ,actions=drop\n\
             table_id=254, duration=1s, n_packets=2, n_bytes=120, n_offload_packets=0, n_offload_bytes=0, priority=2,recirc_id=0,actions=drop\n"
        );
    }
}
