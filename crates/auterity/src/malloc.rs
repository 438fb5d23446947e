//! glibc malloc tuning, applied by re-executing the binary once with the setting in its
//! environment (glibc reads it before `main`, and setting it from Rust needs `unsafe`).
//!
//! glibc raises its mmap threshold each time a large mmapped block is freed, so after the first
//! argon2id hash every later 19 MiB block came from a malloc arena and stayed resident: an idle
//! server held 300–470 MiB after a burst of logins. A fixed threshold (`MALLOC_MMAP_THRESHOLD_`)
//! turns that adjustment off: large blocks are mapped and unmapped, and the server returns to its
//! idle size. An operator's own value wins; other C libraries ignore the variable.
//!
//! Not set: `MALLOC_ARENA_MAX=2` held 1–3 MiB less at start and after load, but cut authorized
//! reads by 15–30 % (threads queue on two arenas' locks); see docs/benchmarks.md.

use std::os::unix::process::CommandExt;

const THRESHOLD_VAR: &str = "MALLOC_MMAP_THRESHOLD_";
/// 128 KiB, glibc's initial threshold, kept fixed.
const THRESHOLD: &str = "131072";

/// Re-executes this process with a fixed mmap threshold unless one is already set. Returns only if
/// it was set (or the re-exec failed, in which case the process runs untuned).
pub fn ensure_fixed_mmap_threshold() {
    if std::env::var_os(THRESHOLD_VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(argv0) = args.next() {
        command.arg0(argv0);
    }
    // `exec` replaces the process image (same pid); it only returns on failure.
    let _ = command.args(args).env(THRESHOLD_VAR, THRESHOLD).exec();
}
