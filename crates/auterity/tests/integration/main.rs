//! The `auterity` binary as a user runs it: real processes, real signals, both backends.

#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod process;

mod cli;
mod crash;
mod lifecycle;
mod telemetry;
