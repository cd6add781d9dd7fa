//! Import of a root filesystem tar.
