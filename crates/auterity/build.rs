//! Link options of the `auterity` binary.
//!
//! On glibc Linux the binary packs its relative relocations (`-z pack-relative-relocs`, RELR):
//! the 2.3 MB `.rela.dyn` table, which the loader reads at every start and which then stays
//! resident, becomes 36 KB. Measured with `bench/memory/rss_steps.sh`: 2 MiB less RSS at start and
//! when idle (docs/benchmarks.md). Needs GNU ld ≥ 2.38 or lld to link and glibc ≥ 2.36 to run
//! (Debian 12 and later); the binary stays position-independent, with the same RELRO.
//!
//! On x86_64 glibc Linux, where rustc links with its bundled lld, the functions the server runs
//! at start-up and on its common requests are laid out together at the front of `.text`, in the
//! order of `link-order.txt` (written by `bench/memory/orderfile.sh` from a callgrind profile).
//! Code is paged in by 64 KiB blocks, so scattered hot functions kept most of the 26 MB `.text`
//! resident. Functions the list does not name keep their usual order after it. Set
//! `AUTERITY_NO_LINK_ORDER=1` when linking with a linker other than lld.
#![allow(clippy::print_stdout, reason = "cargo reads a build script's directives from its stdout")]

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        if arch == "x86_64" && std::env::var_os("AUTERITY_NO_LINK_ORDER").is_none() {
            // The linker reads a copy in OUT_DIR: cargo may reuse this script's output for another
            // checkout that shares the target directory (its fingerprint holds relative paths),
            // and a path into the checkout that ran it can be gone by then.
            let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            let out = std::env::var("OUT_DIR").unwrap_or_default();
            let copy = std::path::Path::new(&out).join("link-order.txt");
            match std::fs::copy(std::path::Path::new(&manifest).join("link-order.txt"), &copy) {
                Ok(_) => {
                    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", copy.display());
                    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
                }
                Err(error) => println!("cargo:warning=link-order.txt not used: {error}"),
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=AUTERITY_NO_LINK_ORDER");
}
