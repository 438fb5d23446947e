//! Link options of the `auterity` binary.
//!
//! On glibc Linux the binary packs its relative relocations (`-z pack-relative-relocs`, RELR):
//! the 2.3 MB `.rela.dyn` table, which the loader reads at every start and which then stays
//! resident, becomes 36 KB. Measured with `bench/memory/rss_steps.sh`: 2 MiB less RSS at start and
//! when idle (docs/benchmarks.md). Needs GNU ld ≥ 2.38 or lld to link and glibc ≥ 2.36 to run
//! (Debian 12 and later); the binary stays position-independent, with the same RELRO.
#![allow(clippy::print_stdout, reason = "cargo reads a build script's directives from its stdout")]

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
