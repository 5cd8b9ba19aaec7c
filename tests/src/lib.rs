//! Harnesses shared by the integration tests: sandboxes with the stock
//! ovsdb-server and OVS tools, network namespaces, the kernel VM.

pub mod controller;
pub mod counting_alloc;
pub mod netns;
pub mod odp_corpus;
pub mod pcap;
pub mod sandbox;
pub mod trace_diff;
pub mod trace_text;
pub mod vsctl;
