//! One module per command group.

pub mod daemon;
pub mod runtime;
pub mod shim;
