//! One file per command family. Each `run` prints its result and returns how it went.

pub mod bundle;
pub mod info;
pub mod ls;
pub mod prune;
pub mod replay;
pub mod transfer;
pub mod verify;

/// How a command that ran ended: done, or failed for a reason already reported in its output
/// (a corrupt entry, a refused bundle) that still gets a one-line summary on stderr.
pub enum Outcome {
    Done,
    Failed(String),
}
