//! ferrovs-netdev: packets and network devices.
//!
//! See `shared/DESIGN.md`: owned packet buffers with metadata, single-pass
//! flow-key extraction, and the device providers (system, tap/internal,
//! dummy, patch, tunnels) behind one trait.
