//! Link the tug binary as a position-dependent executable: its code is position-independent
//! anyway, but without PIE the dynamic loader has no relocations to apply at start-up. That
//! saves touching ~0.6 MB of pages in every short-lived `tug runtime` process.
fn main() {
    println!("cargo:rustc-link-arg-bin=tug=-no-pie");
}
