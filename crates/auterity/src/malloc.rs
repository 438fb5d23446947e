//! glibc malloc tuning, applied by re-executing the binary once with the settings in its
//! environment (glibc reads them before `main`, and setting them from Rust needs `unsafe`).
//!
//! - `MALLOC_MMAP_THRESHOLD_`: glibc raises its mmap threshold each time a large mmapped block is
//!   freed, so after the first argon2id hash every later 19 MiB block came from a malloc arena and
//!   stayed resident: an idle server held 300–470 MiB after a burst of logins. A fixed threshold
//!   turns that adjustment off: large blocks are mapped and unmapped, and the server returns to its
//!   idle size.
//! - `MALLOC_ARENA_MAX`: glibc gives threads up to 8 arenas per core, and each keeps the memory
//!   its threads freed. Two (one per core of the machine we size for) held 2–3 MiB less at start
//!   and after load, at no cost in login or read throughput (`bench/memory/rss_steps.sh`).
//!
//! An operator's own values win; other C libraries ignore the variables.

use std::os::unix::process::CommandExt;

/// `(variable, value)` of each setting: 128 KiB (glibc's initial threshold, kept fixed), 2 arenas.
const SETTINGS: [(&str, &str); 2] = [("MALLOC_MMAP_THRESHOLD_", "131072"), ("MALLOC_ARENA_MAX", "2")];

/// Re-executes this process with the settings it lacks. Returns only if none was missing (or the
/// re-exec failed, in which case the process runs untuned).
pub fn ensure_malloc_settings() {
    let missing: Vec<(&str, &str)> =
        SETTINGS.iter().copied().filter(|(name, _)| std::env::var_os(name).is_none()).collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(argv0) = args.next() {
        command.arg0(argv0);
    }
    // `exec` replaces the process image (same pid); it only returns on failure.
    let _ = command.args(args).envs(missing).exec();
}
