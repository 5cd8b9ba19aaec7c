//! Nicira actions about one port or one field, translated as stock's
//! ofproto-dpif-xlate does: `output:FIELD[..]` (NXAST_OUTPUT_REG and
//! REG2), `output(port=P,max_len=N)` (NXAST_OUTPUT_TRUNC), OpenFlow
//! 1.0's `write_metadata` (NXAST_WRITE_METADATA) and `dec_ttl(ID,...)`
//! (NXAST_DEC_TTL_CNT_IDS). Each was accepted and skipped until session 12.

use super::trace::{Node, NodeKind};
use super::{storage_field, Ctx};
use crate::openflow::actions::{self, port};
use crate::openflow::fields::id;
use crate::openflow::text::port_name;
use ferrovs_dpif::odp;

impl Ctx<'_> {
    /// `output:FIELD[..]`: output to the port the bits hold (which the
    /// megaflow then depends on), when it is a 16-bit port number.
    pub(super) fn output_reg(&mut self, b: &[u8], out: &mut Vec<Node>) {
        let Ok(o) = crate::openflow::actions::output_reg(b) else {
            out.push(Node::new(NodeKind::Warn, "invalid output_reg".into()));
            return;
        };
        let f = storage_field(o.field);
        let bits = if o.n_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << o.n_bits) - 1
        };
        let port = self.get(f).checked_shr(u32::from(o.ofs)).unwrap_or(0) & bits;
        match u16::try_from(port) {
            Ok(p) => {
                self.note(out, NodeKind::Detail, || format!("output port is {p}"));
                self.unwildcard(f, bits.checked_shl(u32::from(o.ofs)).unwrap_or(0));
                self.output(p, o.max_len, out);
            }
            Err(_) => self.note(out, NodeKind::Warn, || {
                format!("output port {port} is out of range")
            }),
        }
    }

    /// `output(port=P,max_len=N)`: the packet cut to N bytes for that
    /// output only. Stock refuses reserved ports, and ports with no
    /// datapath port of their own (a patch port, where the cut would
    /// apply to the peer's outputs; IN_PORT, which names none), and skips
    /// the input port.
    pub(super) fn output_trunc(&mut self, b: &[u8], out: &mut Vec<Node>) {
        let Ok(t) = actions::output_trunc(b) else {
            out.push(Node::new(NodeKind::Warn, "invalid output_trunc".into()));
            return;
        };
        let in_port = self.get(id::IN_PORT) as u16;
        match t.port {
            port::TABLE
            | port::NORMAL
            | port::FLOOD
            | port::ALL
            | port::CONTROLLER
            | port::NONE => {
                self.note(out, NodeKind::Warn, || {
                    format!("output_trunc does not support port: {}", port_name(t.port))
                });
            }
            p if p == in_port => self.note(out, NodeKind::Warn, || {
                "skipping output to input port".into()
            }),
            p => match self.br.odp_ports.get(&p) {
                Some(_) if !self.patch_ports().contains(&p) => {
                    self.actions.push(odp::Action::Trunc(t.max_len));
                    self.output_port(p, out);
                }
                _ => self.note(out, NodeKind::Error, || {
                    format!("output_trunc does not support patch port {}", port_name(p))
                }),
            },
        }
    }

    /// OpenFlow 1.0's `write_metadata:VALUE/MASK`.
    pub(super) fn write_metadata_action(&mut self, b: &[u8], out: &mut Vec<Node>) {
        let Ok((value, mask)) = actions::write_metadata(b) else {
            out.push(Node::new(NodeKind::Warn, "invalid write_metadata".into()));
            return;
        };
        let old = self.get(id::METADATA) as u64;
        self.set(id::METADATA, u128::from((old & !mask) | (value & mask)));
    }

    /// `dec_ttl(ID,...)`: dec_ttl whose packet-ins go to these
    /// controllers.
    pub(super) fn dec_ttl_ids(&mut self, b: &[u8], out: &mut Vec<Node>) {
        match actions::dec_ttl_ids(b) {
            Ok(ids) => self.dec_ttl_to(&ids, out),
            Err(_) => out.push(Node::new(NodeKind::Warn, "invalid dec_ttl".into())),
        }
    }
}
