//! Shared code of the ferrovs command-line tools.
pub mod dpctl;
