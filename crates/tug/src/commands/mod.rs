//! One module per command group.

pub mod build;
pub mod commit;
pub mod container;
pub mod cp;
pub mod daemon;
pub mod images;
pub mod init;
pub mod login;
pub mod network;
pub mod registry;
pub mod runtime;
pub mod shim;
pub mod system;
pub mod volume;
