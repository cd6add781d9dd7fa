//! tug's OCI runtime: an OCI bundle becomes a running, isolated process.
//!
//! Synchronous by design (it forks). The flow of `create`: the runtime forks stage 1, which
//! joins namespaces given by path and clones the container's init into new ones; init builds
//! the rootfs and process settings, reports ready, and waits on a socket in the state directory
//! until `start` tells it to exec.

pub mod cgroups;
mod channel;
pub mod container;
pub mod error;
pub mod features;
pub mod foreground;
mod hooks;
mod init;
mod namespaces;
pub mod process;
pub mod reaper;
mod rootfs;
mod seccomp;
pub mod securepath;
pub mod selfexe;
pub mod spec;
pub mod state;
pub mod tty;
pub mod util;
pub mod warmup;

pub use error::{Error, Kind, Result};

/// The OCI runtime spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";
