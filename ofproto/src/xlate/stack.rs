//! The data stack of `push:FIELD[]` and `pop:FIELD[]` (NXAST_STACK_PUSH
//! and NXAST_STACK_POP).
//!
//! As in Open vSwitch, each push stores the subfield's value in as many
//! bytes as its bits need; a pop writes the top value (zero-extended or
//! cut to the low bits) into its subfield. Both match the subfield in
//! the megaflow. The stack belongs to one pipeline: resubmits share it,
//! `clone` works on a copy, the peer bridge of a patch port starts with
//! an empty one, and a freeze (recirculation, `controller(pause)`) keeps
//! it for the continuation.

use super::{storage_field, Ctx, Node, NodeKind};
use crate::openflow::actions::stack_subfield;

/// Past this many bytes, a resubmit is refused (stock's 64 kB limit).
pub(super) const MAX_STACK_BYTES: usize = 65536;

/// One pushed value: its bytes (big-endian, as many as its bits need).
pub type StackEntry = Vec<u8>;

/// The subfield a stack action names: field, offset and bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Subfield {
    pub field: usize,
    pub ofs: u16,
    pub n_bits: u16,
}

/// The subfield of a stack action's wire bytes (see
/// `actions::stack_subfield`), if translation can hold it.
pub(super) fn parse(b: &[u8]) -> Option<Subfield> {
    let (field, ofs, n_bits) = stack_subfield(b)?;
    (n_bits <= 128).then_some(Subfield { field, ofs, n_bits })
}

fn ones(n: u16) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

impl Ctx<'_> {
    /// The stack's size in bytes as stock counts it (each value and its
    /// length byte).
    pub(super) fn stack_bytes(&self) -> usize {
        self.stack.iter().map(|e| e.len() + 1).sum()
    }

    pub(super) fn stack_push(&mut self, b: &[u8], out: &mut Vec<Node>) {
        let Some(sf) = parse(b) else {
            out.push(Node::new(
                NodeKind::Warn,
                "push of a field ferrovs translation cannot hold".into(),
            ));
            return;
        };
        let f = storage_field(sf.field);
        let m = ones(sf.n_bits);
        self.unwildcard(f, m << sf.ofs);
        let v = (self.get(f) >> sf.ofs) & m;
        let n = sf.n_bits.div_ceil(8) as usize;
        self.stack.push(v.to_be_bytes()[16 - n..].to_vec());
    }

    pub(super) fn stack_pop(&mut self, b: &[u8], out: &mut Vec<Node>) {
        let Some(sf) = parse(b) else {
            out.push(Node::new(
                NodeKind::Warn,
                "pop into a field ferrovs translation cannot hold".into(),
            ));
            return;
        };
        let Some(top) = self.stack.pop() else {
            out.push(Node::new(NodeKind::Error, "stack underflow".into()));
            return;
        };
        let v = top
            .iter()
            .rev()
            .take(16)
            .rev()
            .fold(0u128, |acc, &x| (acc << 8) | x as u128);
        let f = storage_field(sf.field);
        let dmask = ones(sf.n_bits) << sf.ofs;
        self.unwildcard(f, dmask);
        let old = self.get(f);
        self.set(f, (old & !dmask) | ((v << sf.ofs) & dmask));
        out.push(Node::new(
            NodeKind::Detail,
            self.subfield_now(sf.field, sf.ofs, sf.n_bits),
        ));
    }
}
