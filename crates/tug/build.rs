//! Release builds of the `tug` binary lay out the functions that `tug runtime` executes first
//! and next to each other (symbol-order.txt, made by bench/symbol-order.sh). Each short-lived
//! runtime process then maps a few hundred kilobytes of code instead of pages scattered over
//! the whole text: the kernel maps 64 KB around every page of code that faults.
//!
//! Only release builds of the binary for linux-gnu with rust-lld (the default linker of rustc
//! 1.90 and later there) are affected; dev and test builds link as before. Symbols named in
//! the list but no longer present are ignored, so a stale list costs memory, never a build.
//! `TUG_LINK_MAP=FILE` also writes the linker's map (what bench/symbol-order.sh reads).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=TUG_LINK_MAP");
    println!("cargo:rerun-if-env-changed=TUG_NO_SYMBOL_ORDER");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release"
        || env("CARGO_CFG_TARGET_OS") != "linux"
        || env("CARGO_CFG_TARGET_ENV") != "gnu"
        || env("CARGO_CFG_TARGET_ARCH") != "x86_64"
        || !std::env::var_os("TUG_NO_SYMBOL_ORDER").is_none_or(|v| v.is_empty())
        || !rustc_links_with_lld()
    {
        return;
    }
    let order = PathBuf::from(env("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=tug=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=tug=-Wl,--no-warn-symbol-ordering");
    }
    let map = env("TUG_LINK_MAP");
    if !map.is_empty() {
        println!("cargo:rustc-link-arg-bin=tug=-Wl,-Map={map}");
    }
}

/// rustc 1.90 and later link x86_64-unknown-linux-gnu with its own lld unless told otherwise.
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return false;
    }
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    // "rustc 1.95.0 (…)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
