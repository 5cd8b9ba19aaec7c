//! The OVSDB client (RFC 7047) for the Open_vSwitch database: a local
//! replica of the tables kept current by a monitor, the `ovs_vswitchd`
//! lock, transactions, and reconnection with backoff.

pub mod client;
pub mod datum;
pub mod replica;

pub use client::{Client, Event};
pub use replica::{ChangeSet, Replica, Row};
