//! Loading the schema: with `--keep-going` a statement that failed does
//! not stop the run, but it must not pass unnoticed either: the audit ran
//! on a schema missing whatever that statement would have made.

mod statement;

pub use statement::findings;

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[statement::ID];
