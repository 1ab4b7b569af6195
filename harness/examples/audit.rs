//! An audit from code, as a project's own test or tool would run it:
//!
//! ```sh
//! cargo run --example audit -- fixtures/layouts/flyway
//! ```
//!
//! audits the migrations folder given (any layout tierguard detects) as
//! one tier, prints the summary, and exits 1 when something fails the gate.

use std::process::ExitCode;

use tierguard::Audit;

fn main() -> ExitCode {
    let Some(folder) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example audit -- FOLDER_OR_SQL_FILE");
        return ExitCode::from(2);
    };
    let audited = match Audit::builder().tier("app", [folder]).seed(7).quiet().build().and_then(|audit| audit.run_blocking()) {
        Ok(audited) => audited,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", audited.summary());
    for failure in audited.failures() {
        println!("{} {} {}: {}", failure.check, failure.tier, failure.object, failure.message);
    }
    if audited.failures().next().is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
