//! `saasql`: SaaS-metric SQL on Apache DataFusion, from the command line.
//!
//! Exit codes (also in `saasql --help`): 0 ok, 1 query or data error,
//! 2 usage error, 3 input not found or unreadable, 4 output not writable,
//! 130 interrupted.

// The command relies on Unix: signals (SIGTERM), file modes of secret files,
// FIFOs as outputs, atomic renames. The library crate (`saasql`) is portable.
// (Elsewhere some dependencies may stop the build before this line does.)
#[cfg(not(unix))]
compile_error!(
    "the saasql command supports Unix (Linux, macOS) only; the saasql library crate builds anywhere"
);

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}
