//! Writes the seed corpora of the odp fuzz targets from the odp.at-derived
//! text corpora of dpif's tests (dpif/tests/data): each key and mask as
//! netlink bytes for `odp_key`, each action list as netlink bytes for
//! `odp_actions`, and each line as text for `odp_text`.
//!
//! Usage: cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds -- OUTDIR
//! (then minimize into fuzz/seeds/ with `cargo fuzz cmin`, see README.md).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use ferrovs_dpif::odp;

fn lines(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dpif/tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Writes `data` as a file named after its hash, so duplicates collapse.
fn put(dir: &Path, data: &[u8]) {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    let path = dir.join(format!("{:016x}", h.finish()));
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn add_flow(key_dir: &Path, s: &str) {
    match odp::parse_flow(s, None) {
        Ok(f) => {
            put(key_dir, &f.key);
            if !f.mask.is_empty() {
                put(key_dir, &f.mask);
            }
        }
        Err(e) => eprintln!("skipped flow {s:?}: {e}"),
    }
}

fn add_actions(actions_dir: &Path, s: &str) {
    match odp::parse_actions(s, None) {
        Ok(a) => put(actions_dir, &a),
        Err(e) => eprintln!("skipped actions {s:?}: {e}"),
    }
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: gen_seeds OUTDIR"));
    let dir = |t: &str| {
        let d = out.join(t);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
        d
    };
    let (keys, actions, text) = (dir("odp_key"), dir("odp_actions"), dir("odp_text"));

    for name in ["odp-keys.txt", "odp-wc-keys.txt"] {
        for l in lines(name) {
            add_flow(&keys, &l);
            put(&text, l.as_bytes());
        }
    }
    for l in lines("odp-actions.txt") {
        add_actions(&actions, &l);
        put(&text, l.as_bytes());
    }
    for l in lines("odp-stock-flows.txt") {
        if let Some((m, a)) = l.split_once(" actions:") {
            add_flow(&keys, m);
            add_actions(&actions, a);
        }
        put(&text, l.as_bytes());
    }
}
