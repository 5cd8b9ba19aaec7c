//! The OpenFlow wire protocol, versions 1.0 to 1.5 plus the Nicira
//! extensions that ovs-ofctl uses.

pub mod action_parse;
pub mod actions;
pub mod continuation;
pub mod error_table;
pub mod field_table;
pub mod fields;
pub mod groups;
pub mod meters;
pub mod nxm;
pub mod ofp10;
pub mod ofp11;
pub mod text;
pub mod wire;
