//! ovs-vsctl command lines that the tests build again and again: a bridge
//! of some datapath type, ports with settings, several commands joined
//! into one transaction. Each function returns the words to pass to
//! `Sandbox::vsctl`, exactly as a test would write them out.

/// `add-br BR -- set bridge BR datapath_type=TYPE SETTINGS...`.
pub fn add_br(br: &str, datapath_type: &str, settings: &[&str]) -> Vec<String> {
    let mut words = ["add-br", br, "--", "set", "bridge", br]
        .map(String::from)
        .to_vec();
    words.push(format!("datapath_type={datapath_type}"));
    words.extend(settings.iter().map(|s| s.to_string()));
    words
}

/// `add-port BR PORT`, followed by `-- set interface PORT SETTINGS...`
/// when there are settings.
pub fn add_port(br: &str, port: &str, settings: &[&str]) -> Vec<String> {
    let mut words = ["add-port", br, port].map(String::from).to_vec();
    if !settings.is_empty() {
        words.extend(["--", "set", "interface", port].map(String::from));
        words.extend(settings.iter().map(|s| s.to_string()));
    }
    words
}

/// Several ovs-vsctl commands as one invocation (one transaction),
/// separated by `--`.
pub fn one_transaction(commands: &[Vec<String>]) -> Vec<String> {
    let mut words = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        if i > 0 {
            words.push("--".to_string());
        }
        words.extend(c.iter().cloned());
    }
    words
}

/// A `datapath_type=netdev` bridge with `ports` numbered 1, 2, ... in
/// order (`ofport_request`), all in one transaction.
pub fn netdev_bridge(br: &str, bridge_settings: &[&str], ports: &[&str]) -> Vec<String> {
    let mut commands = vec![add_br(br, "netdev", bridge_settings)];
    for (i, p) in ports.iter().enumerate() {
        let request = format!("ofport_request={}", i + 1);
        commands.push(add_port(br, p, &[&request]));
    }
    one_transaction(&commands)
}

/// Any other command, as owned words (to sit in a list with the above).
pub fn words_of(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// Borrows owned words as the `&[&str]` that `Sandbox::vsctl` takes.
pub fn words(w: &[String]) -> Vec<&str> {
    w.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdev_bridge_reads_as_written_out() {
        let w = netdev_bridge("br", &["fail-mode=secure"], &["a", "b"]);
        assert_eq!(
            w.join(" "),
            "add-br br -- set bridge br datapath_type=netdev fail-mode=secure \
             -- add-port br a -- set interface a ofport_request=1 \
             -- add-port br b -- set interface b ofport_request=2"
        );
        assert_eq!(add_port("br0", "p1", &[]).join(" "), "add-port br0 p1");
    }
}
