//! `pcstore`: see what a pipeline-cache store holds, check it, make it smaller, move its
//! entries into and out of shippable bundles, and replay recorded pipelines for this driver.
//!
//! Every command works on the default store (`PCSTORE_DIR`, else `$XDG_CACHE_HOME/pcstore`,
//! else `~/.cache/pcstore`) or `--dir`, prints for people by default and JSON with `--json`,
//! and exits 1 with a one-line reason on failure (2 for a usage error). Commands that only
//! look open the store read-only; those that remove go through the store's compaction, which
//! is safe while other processes use the store.
//!
//! Shape: `main.rs` parses (clap) and dispatches; `store.rs` opens stores and describes
//! entries (kind, device); `output.rs` prints sizes, ages and JSON; `commands/` has one file
//! per command family. A new command is a variant of [`Command`] and a file in `commands/`.

mod commands;
mod output;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect and manage pcstore pipeline-cache stores and bundles.
#[derive(Parser, Debug)]
#[command(name = "pcstore", version, about, long_about = None)]
struct Cli {
    /// The store directory (default: PCSTORE_DIR, else $XDG_CACHE_HOME/pcstore, else
    /// ~/.cache/pcstore).
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print JSON instead of text (and no progress bars).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Where the store is, its size against its budget, its entries by kind and by device.
    Info,
    /// List entries: key, kind, size, last use, device.
    Ls(commands::ls::Args),
    /// Read and check every entry; exits 1 if any is corrupt.
    Verify(commands::verify::Args),
    /// Remove entries by age, total size or device.
    Prune(commands::prune::PruneArgs),
    /// Remove every entry.
    Clear(commands::prune::ClearArgs),
    /// Write entries into a bundle file (optionally signed).
    Export(commands::transfer::ExportArgs),
    /// Copy every entry of a bundle into the store.
    Import(commands::transfer::ImportArgs),
    /// Rebuild recorded applications' pipeline caches for this machine's driver.
    Replay(commands::replay::Args),
    /// Look at a bundle file.
    #[command(subcommand)]
    Bundle(commands::bundle::Command),
}

fn main() -> ExitCode {
    // A replay's worker processes are this program again: they must not reach clap.
    if std::env::args_os().any(|arg| arg == pcstore::recipe::replay::WORKER_ARG) {
        return commands::replay::worker();
    }
    let cli = Cli::parse();
    let out = output::Output::new(cli.json);
    let result = match cli.command {
        Command::Info => commands::info::run(&out, cli.dir),
        Command::Ls(args) => commands::ls::run(&out, cli.dir, args),
        Command::Verify(args) => commands::verify::run(&out, cli.dir, args),
        Command::Prune(args) => commands::prune::prune(&out, cli.dir, args),
        Command::Clear(args) => commands::prune::clear(&out, cli.dir, args),
        Command::Export(args) => commands::transfer::export(&out, cli.dir, args),
        Command::Import(args) => commands::transfer::import(&out, cli.dir, args),
        Command::Replay(args) => commands::replay::run(&out, cli.dir, args),
        Command::Bundle(command) => commands::bundle::run(&out, command),
    };
    match result {
        Ok(commands::Outcome::Done) => ExitCode::SUCCESS,
        Ok(commands::Outcome::Failed(reason)) => {
            eprintln!("pcstore: {reason}");
            ExitCode::FAILURE
        }
        Err(err) => {
            // `{:#}`: the error and its causes on one line.
            eprintln!("pcstore: {err:#}");
            ExitCode::FAILURE
        }
    }
}
