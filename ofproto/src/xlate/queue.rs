//! Queues: `set_queue`, `pop_queue` and `enqueue` (OpenFlow 1.0's
//! output to a queue).
//!
//! A queue is the datapath's packet priority (`skb_priority`), which the
//! datapath maps from the OpenFlow queue id: the userspace datapath takes
//! the id itself, the kernel's tc classes are 1:(id+1) for ids below
//! 0xf000 and nothing else. A queue the datapath cannot map leaves
//! `set_queue` without effect and makes `enqueue` a plain output, as in
//! Open vSwitch. Every queue action matches the packet's priority in the
//! megaflow.

use super::{Ctx, Node, NodeKind};
use crate::openflow::actions::port;
use crate::openflow::fields::id;

/// The datapath priority of queue `queue`: `kernel` for the Linux
/// module's mapping, else the userspace datapath's.
pub fn queue_to_priority(kernel: bool, queue: u32) -> Option<u32> {
    if !kernel {
        Some(queue)
    } else if queue < 0xf000 {
        Some((1 << 16) | (queue + 1))
    } else {
        None
    }
}

impl Ctx<'_> {
    fn kernel_datapath(&self) -> bool {
        self.world.is_some_and(|w| w.topo.kernel_tunnels)
    }

    pub(super) fn set_queue(&mut self, queue: u32) {
        self.exact(id::SKB_PRIORITY);
        if let Some(p) = queue_to_priority(self.kernel_datapath(), queue) {
            self.set(id::SKB_PRIORITY, p as u128);
        }
    }

    pub(super) fn pop_queue(&mut self, out: &mut Vec<Node>) {
        self.exact(id::SKB_PRIORITY);
        if self.get(id::SKB_PRIORITY) != self.orig_skb_priority as u128 {
            self.set(id::SKB_PRIORITY, self.orig_skb_priority as u128);
            let text = match self.orig_skb_priority {
                0 => "queue = 0".to_string(),
                p => format!("queue = {p:#x}"),
            };
            out.push(Node::new(NodeKind::Detail, text));
        }
    }

    /// OpenFlow 1.0's enqueue: output to `p` with the queue's priority,
    /// which then returns to what it was.
    pub(super) fn enqueue(&mut self, p: u16, queue: u32, out: &mut Vec<Node>) {
        self.exact(id::SKB_PRIORITY);
        let Some(prio) = queue_to_priority(self.kernel_datapath(), queue) else {
            return self.output(p, 0, out);
        };
        let in_port = self.get(id::IN_PORT) as u16;
        let target = if p == port::IN_PORT {
            in_port
        } else if p == in_port {
            return;
        } else {
            p
        };
        let saved = self.get(id::SKB_PRIORITY);
        self.set(id::SKB_PRIORITY, prio as u128);
        self.output_port(target, out);
        self.set(id::SKB_PRIORITY, saved);
    }
}

#[cfg(test)]
mod tests {
    use super::queue_to_priority;

    #[test]
    fn queues_map_as_each_datapath_does() {
        // Userspace: the queue id itself, any id.
        assert_eq!(queue_to_priority(false, 0), Some(0));
        assert_eq!(queue_to_priority(false, 0xffff_fff0), Some(0xffff_fff0));
        // Kernel: tc class 1:(id+1), ids below 0xf000 only.
        assert_eq!(queue_to_priority(true, 0), Some(0x1_0001));
        assert_eq!(queue_to_priority(true, 0xefff), Some(0x1_f000));
        assert_eq!(queue_to_priority(true, 0xf000), None);
    }
}
