//! The datapath flow model shared by every datapath provider.
//!
//! Flow keys, masks and actions travel through [`crate::Dpif`] as netlink
//! attribute streams (`OVS_KEY_ATTR_*`, `OVS_ACTION_ATTR_*` of
//! `<linux/openvswitch.h>`), the bytes the kernel module takes. This module
//! turns those bytes into owned values and back, and reads and writes the
//! text that `ovs-dpctl` / `ovs-appctl dpctl/*` print and parse.
//!
//! # Entry points
//!
//! Bytes <-> owned values:
//! - [`Key::from_nlattrs`] / [`Key::to_nlattrs`]: a key or a mask
//!   (a list of [`KeyAttr`], with nested [`TunnelAttr`], [`NshAttr`] and
//!   `Encap` lists). Unknown attributes are kept as `KeyAttr::Unknown`.
//! - [`Actions::from_nlattrs`] / [`Actions::to_nlattrs`]: a list of
//!   [`Action`]; unknown ones are kept as `Action::Unknown`.
//!
//! Text <-> bytes (what a dpctl implementation needs):
//! - [`parse_flow`]: `ufid:...,in_port(1),eth(...),...` to key and mask
//!   bytes (plus the UFID if the text starts with one).
//! - [`format_flow`]: key and mask bytes to text, as `dump-flows` prints
//!   them (`verbose` is `dump-flows -m`).
//! - [`parse_actions`] / [`format_actions`]: `actions:` text.
//! - [`Key::parse_text`], [`Key::to_text`], [`Actions::parse_text`],
//!   [`Actions::to_text`] for the owned values.
//! - [`format_ufid`] / [`parse_ufid`]: the `ufid:` UUID form;
//!   [`ufid_to_bytes`] / [`ufid_from_bytes`]: its `OVS_FLOW_ATTR_UFID` bytes.
//!
//! Module map: `nlattr` (attribute reader/writer), `consts` (attribute
//! numbers), `key` + `tunnel` (key/mask values and codec), `action` +
//! `tnl_push` (actions and codec), `key_text` / `key_parse`,
//! `action_text` / `action_parse` and `tunnel_text` (the text form).
//!
//! Decoding never panics on hostile bytes: it returns an [`OdpError`].
//!
//! # Compatibility notes
//! - Numbers follow the Linux header. The userspace-only actions of Open
//!   vSwitch (`tnl_push`, `tnl_pop`, `lb_output`) get private numbers from
//!   1000 up and never reach the kernel.
//! - `drop` as a whole action list is the empty list (what the kernel
//!   takes); an explicit `OVS_ACTION_ATTR_DROP` also prints as `drop`.
//! - The parser accepts a few things stock cannot parse back although it
//!   prints them (`push_mpls`, `pop_mpls`, `hash`, `push_eth`, `pop_eth`,
//!   `nsh(ttl=...)`, `clone(drop)`, `key<N>(..)`, `action<N>(..)`), so that
//!   everything printed here parses again.

pub mod action;
pub mod action_parse;
pub mod action_text;
pub mod consts;
pub mod key;
pub mod key_parse;
pub mod key_text;
pub mod nlattr;
mod scan;
pub mod tnl_push;
pub mod tunnel;
mod tunnel_text;

use std::collections::HashMap;
use std::fmt;

pub use action::{Action, CtAttr, NatAttr, Userspace};
pub use consts::*;
pub use key::{Key, KeyAttr, NshAttr};
pub use key_parse::parse_ufid;
pub use key_text::{format_ufid, FormatOptions};
pub use tunnel::{TunnelAttr, VxlanAttr};

/// A decoding or parsing error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdpError {
    pub message: String,
}

impl OdpError {
    pub fn new(message: impl Into<String>) -> Self {
        OdpError {
            message: message.into(),
        }
    }
}

impl fmt::Display for OdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OdpError {}

impl From<OdpError> for crate::DpifError {
    fn from(e: OdpError) -> Self {
        crate::DpifError::new(libc::EINVAL, e.message)
    }
}

pub type Result<T> = std::result::Result<T, OdpError>;

impl Key {
    /// Parses a key written as text; the mask parsed along with it is
    /// dropped (see [`parse_flow`] to keep it).
    pub fn parse_text(s: &str) -> Result<Key> {
        let (k, _) = key_parse::parse_key_attrs(s, None)?;
        Ok(Key::new(k))
    }

    /// Parses text into a key and its mask.
    pub fn parse_text_with_mask(s: &str) -> Result<(Key, Key)> {
        let (k, m) = key_parse::parse_key_attrs(s, None)?;
        Ok((Key::new(k), Key::new(m)))
    }

    /// Prints the key alone (every field, as `odp_flow_key_format`).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        key_text::format_key_attrs(
            &mut s,
            &self.attrs,
            None,
            &FormatOptions {
                verbose: true,
                port_names: None,
            },
        );
        s
    }

    /// Prints the key with a mask, as `dump-flows` does.
    pub fn to_text_masked(&self, mask: &Key, opts: &FormatOptions<'_>) -> String {
        let mut s = String::new();
        key_text::format_key_attrs(&mut s, &self.attrs, Some(&mask.attrs), opts);
        s
    }
}

/// A list of datapath actions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actions {
    pub list: Vec<Action>,
}

impl Actions {
    pub fn from_nlattrs(buf: &[u8]) -> Result<Actions> {
        Ok(Actions {
            list: action::decode_actions(buf, 0)?,
        })
    }

    pub fn to_nlattrs(&self) -> Result<Vec<u8>> {
        action::encode_actions(&self.list)
    }

    pub fn parse_text(s: &str) -> Result<Actions> {
        Ok(Actions {
            list: action_parse::parse_action_list(s, None)?,
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        action_text::format_action_list(&mut s, &self.list, &FormatOptions::default());
        s
    }
}

/// The 16 bytes of `OVS_FLOW_ATTR_UFID` for a UFID (Open vSwitch's
/// `ovs_u128`: four 32-bit words in host byte order, lowest first).
pub fn ufid_to_bytes(ufid: u128) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (k, chunk) in b.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&((ufid >> (32 * k)) as u32).to_ne_bytes());
    }
    b
}

/// The UFID carried in `OVS_FLOW_ATTR_UFID` bytes (`None` unless exactly
/// 16 bytes).
pub fn ufid_from_bytes(b: &[u8]) -> Option<u128> {
    if b.len() != 16 {
        return None;
    }
    Some(b.chunks_exact(4).enumerate().fold(0u128, |acc, (k, c)| {
        acc | u128::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])) << (32 * k)
    }))
}

/// A flow parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedFlow {
    pub ufid: Option<u128>,
    pub key: Vec<u8>,
    pub mask: Vec<u8>,
}

/// Parses a flow's match as `ovs-dpctl add-flow` does: an optional
/// `ufid:UUID` then key attributes with optional `/mask`s. `port_names`
/// maps port names usable in `in_port(...)`.
pub fn parse_flow(s: &str, port_names: Option<&HashMap<String, u32>>) -> Result<ParsedFlow> {
    let t = s.trim_start_matches([',', ' ', '\t', '\r', '\n']);
    let ufid = t.strip_prefix("ufid:").and_then(parse_ufid);
    let (k, m) = key_parse::parse_key_attrs(s, port_names)?;
    Ok(ParsedFlow {
        ufid,
        key: Key::new(k).to_nlattrs()?,
        mask: Key::new(m).to_nlattrs()?,
    })
}

/// Prints a flow's key and mask (`mask` may be empty: then every field is
/// printed exactly) as `dump-flows` does.
pub fn format_flow(
    key: &[u8],
    mask: &[u8],
    opts: &FormatOptions<'_>,
    out: &mut String,
) -> Result<()> {
    let k = Key::from_nlattrs(key)?;
    let m = Key::from_nlattrs(mask)?;
    key_text::format_key_attrs(out, &k.attrs, Some(&m.attrs), opts);
    Ok(())
}

/// Parses an action list (the text after `actions:`).
pub fn parse_actions(s: &str, port_names: Option<&HashMap<String, u32>>) -> Result<Vec<u8>> {
    action::encode_actions(&action_parse::parse_action_list(s, port_names)?)
}

/// Parses an action list as stock's `odp_actions_from_string` does
/// (see [`action_parse::parse_action_list_as_stock`]): for actions typed
/// by users, where stock's refusals must be kept.
pub fn parse_actions_as_stock(
    s: &str,
    port_names: Option<&HashMap<String, u32>>,
) -> Result<Vec<u8>> {
    action::encode_actions(&action_parse::parse_action_list_as_stock(s, port_names)?)
}

/// Prints an action list as `dump-flows` does (`drop` when empty).
pub fn format_actions(actions: &[u8], opts: &FormatOptions<'_>, out: &mut String) -> Result<()> {
    let a = Actions::from_nlattrs(actions)?;
    action_text::format_action_list(out, &a.list, opts);
    Ok(())
}
