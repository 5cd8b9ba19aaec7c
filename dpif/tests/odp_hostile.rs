//! Hostile input: the netlink decoders and the text parsers of `odp` must
//! return errors, never panic, on random and mangled input. A tiny
//! deterministic PRNG drives many cases; valid encodings from the odp.at
//! corpus are truncated and corrupted, and decodes that succeed must
//! re-encode to something that decodes to the same value.

use ferrovs_dpif::odp::{self, Actions, FormatOptions, Key};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{}", env!("CARGO_MANIFEST_DIR"), name);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Decodes key bytes every way the API offers; checks stability when the
/// decode succeeds.
fn exercise_key(bytes: &[u8]) -> bool {
    let verbose = FormatOptions {
        verbose: true,
        port_names: None,
    };
    let mut s = String::new();
    let _ = odp::format_flow(bytes, &[], &verbose, &mut s);
    let _ = odp::format_flow(bytes, bytes, &FormatOptions::default(), &mut s);
    match Key::from_nlattrs(bytes) {
        Ok(k) => {
            if let Ok(again) = k.to_nlattrs() {
                assert_eq!(Key::from_nlattrs(&again).as_ref(), Ok(&k));
            }
            let text = k.to_text();
            let _ = Key::parse_text(&text);
            true
        }
        Err(_) => false,
    }
}

fn exercise_actions(bytes: &[u8]) -> bool {
    let mut s = String::new();
    let _ = odp::format_actions(bytes, &FormatOptions::default(), &mut s);
    match Actions::from_nlattrs(bytes) {
        Ok(a) => {
            if let Ok(again) = a.to_nlattrs() {
                assert_eq!(Actions::from_nlattrs(&again).as_ref(), Ok(&a));
            }
            let _ = odp::parse_actions(&a.to_text(), None);
            true
        }
        Err(_) => false,
    }
}

fn mangle(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut b = good.to_vec();
    match rng.below(4) {
        0 => b.truncate(rng.below(b.len() + 1)),
        1 => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(b.len());
                if let Some(x) = b.get_mut(i) {
                    *x = rng.next() as u8;
                }
            }
        }
        2 => {
            // Corrupt a length field of some attribute header.
            let i = rng.below(b.len() / 4) * 4;
            if i + 2 <= b.len() {
                let v = (rng.next() as u16).to_ne_bytes();
                b[i] = v[0];
                b[i + 1] = v[1];
            }
        }
        _ => {
            let i = rng.below(b.len() + 1);
            let junk: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8).collect();
            b.splice(i..i, junk);
        }
    }
    b
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok_k, mut ok_a) = (0, 0);
    for _ in 0..20_000 {
        let len = rng.below(96);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Make plausible headers more often: small lengths and types.
        if len >= 4 && rng.below(2) == 0 {
            let l = (4 + rng.below(len - 3)) as u16;
            b[..2].copy_from_slice(&l.to_ne_bytes());
            b[2..4].copy_from_slice(&(rng.below(40) as u16).to_ne_bytes());
        }
        ok_k += usize::from(exercise_key(&b));
        ok_a += usize::from(exercise_actions(&b));
    }
    // Some random streams are valid, most are not; both paths ran.
    assert!(ok_k > 0 && ok_a > 0, "keys ok {ok_k}, actions ok {ok_a}");
}

#[test]
fn random_tnl_push_headers_never_panic() {
    // Userspace tunnel push actions carry raw headers; printing any of them
    // must work whatever the bytes say.
    let mut rng = Rng(99);
    for _ in 0..5_000 {
        let hlen = rng.below(120);
        let ty = [3u32, 4, 5, 107, 108, 109, 110, 0, 77][rng.below(9)];
        let mut p = Vec::new();
        p.extend_from_slice(&(rng.next() as u32).to_ne_bytes());
        p.extend_from_slice(&(rng.next() as u32).to_ne_bytes());
        p.extend_from_slice(&(hlen as u32).to_ne_bytes());
        p.extend_from_slice(&ty.to_ne_bytes());
        p.extend((0..hlen).map(|_| rng.next() as u8));
        let mut a = Vec::new();
        let len = (4 + p.len()) as u16;
        a.extend_from_slice(&len.to_ne_bytes());
        a.extend_from_slice(&odp::OVS_ACTION_ATTR_TUNNEL_PUSH.to_ne_bytes());
        a.extend_from_slice(&p);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        assert!(exercise_actions(&a), "a well-formed tnl_push must decode");
    }
}

#[test]
fn mangled_encodings_never_panic() {
    let mut rng = Rng(42);
    let keys: Vec<Vec<u8>> = corpus("odp-wc-keys.txt")
        .iter()
        .chain(corpus("odp-keys.txt").iter())
        .map(|l| odp::parse_flow(l, None).unwrap().key)
        .collect();
    let actions: Vec<Vec<u8>> = corpus("odp-actions.txt")
        .iter()
        .map(|l| odp::parse_actions(l, None).unwrap())
        .collect();
    let (mut ok, mut bad) = (0, 0);
    for round in 0..40 {
        for k in &keys {
            let m = mangle(&mut rng, k);
            if exercise_key(&m) {
                ok += 1;
            } else {
                bad += 1;
            }
            if round == 0 {
                for cut in 0..k.len() {
                    exercise_key(&k[..cut]);
                }
            }
        }
        for a in &actions {
            let m = mangle(&mut rng, a);
            if exercise_actions(&m) {
                ok += 1;
            } else {
                bad += 1;
            }
            if round == 0 {
                for cut in 0..a.len() {
                    exercise_actions(&a[..cut]);
                }
            }
        }
    }
    assert!(ok > 0 && bad > 0, "ok {ok} bad {bad}");
}

#[test]
fn mangled_text_never_panics() {
    let mut rng = Rng(7);
    let stock: Vec<String> = corpus("odp-stock-flows.txt")
        .iter()
        .flat_map(|l| l.split(" actions:").map(str::to_string).collect::<Vec<_>>())
        .collect();
    let lines: Vec<String> = corpus("odp-wc-keys.txt")
        .into_iter()
        .chain(corpus("odp-actions.txt"))
        .chain(stock)
        .collect();
    let alphabet = b"(),=/:.-+|{}[]0123456789abcdefxyz \xc3\xa9";
    for _ in 0..60 {
        for l in &lines {
            let mut b = l.as_bytes().to_vec();
            match rng.below(3) {
                0 => b.truncate(rng.below(b.len() + 1)),
                1 => {
                    let i = rng.below(b.len());
                    b[i] = alphabet[rng.below(alphabet.len())];
                }
                _ => {
                    let i = rng.below(b.len() + 1);
                    b.insert(i, alphabet[rng.below(alphabet.len())]);
                }
            }
            let s = String::from_utf8_lossy(&b);
            let _ = odp::parse_flow(&s, None);
            let _ = odp::parse_actions(&s, None);
        }
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = "encap(".repeat(40) + &")".repeat(40);
    assert!(odp::parse_flow(&deep, None).is_err());
    let deep = "clone(".repeat(40) + "1" + &")".repeat(40);
    assert!(odp::parse_actions(&deep, None).is_err());
}

#[test]
fn unknown_attributes_are_kept_and_printed() {
    // A key attribute 40 and an action 50, unknown to Open vSwitch 3.1 and
    // to us: kept byte for byte and printed as ovs-dpctl prints them.
    let mut key = odp::parse_flow("in_port(1),eth_type(0x0800)", None)
        .unwrap()
        .key;
    key.extend_from_slice(&[7, 0, 40, 0, 0xde, 0xad, 0xbe, 0]);
    let k = Key::from_nlattrs(&key).unwrap();
    assert_eq!(k.to_nlattrs().unwrap(), key);
    assert_eq!(k.to_text(), "in_port(1),eth_type(0x0800),key40(de ad be)");
    let parsed = Key::parse_text(&k.to_text()).unwrap();
    assert_eq!(parsed.to_nlattrs().unwrap(), key);
    // With a mask: exact masks of unknown types are still printed.
    let mut mask = odp::parse_flow("in_port(1),eth_type(0x0800)", None)
        .unwrap()
        .mask;
    mask.extend_from_slice(&[7, 0, 40, 0, 0xff, 0xff, 0x0f, 0]);
    let mut s = String::new();
    odp::format_flow(&key, &mask, &FormatOptions::default(), &mut s).unwrap();
    assert_eq!(s, "in_port(1),eth_type(0x0800),key40(de ad be/ff ff 0f)");

    let mut acts = odp::parse_actions("1", None).unwrap();
    acts.extend_from_slice(&[6, 0, 50, 0, 1, 2, 0, 0]);
    acts.extend_from_slice(&[4, 0, 51, 0]);
    let mut s = String::new();
    odp::format_actions(&acts, &FormatOptions::default(), &mut s).unwrap();
    assert_eq!(s, "1,action50(01 02),action51");
    assert_eq!(odp::parse_actions(&s, None).unwrap(), acts);

    // The kernel's IPv6 extension header attribute (32) is new to OVS 3.1.
    let k = Key::from_nlattrs(&[6, 0, 32, 0, 0x12, 0x34, 0, 0]).unwrap();
    assert_eq!(k.to_text(), "key32(12 34)");
}
