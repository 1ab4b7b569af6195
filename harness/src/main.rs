//! The `tierguard` binary: parse, run, print, exit 0 (gate passed), 1 (a
//! finding fails the gate) or 2 (the harness could not do its job).

use std::process::ExitCode;

use clap::Parser;
use tierguard::cli::{Cli, Commands};
use tierguard::checks::Gate;
use tierguard::error::HarnessError;
use tierguard::report::terminal;
use tierguard::scenario::{Overrides, Scenario};
use tierguard::{replay, run};

const EXIT_GATE_FAILED: u8 = 1;
const EXIT_HARNESS: u8 = 2;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("TIERGUARD_LOG"))
        .with_writer(std::io::stderr)
        .init();
    // A panic is our bug, not the user's: say so in one line. Unwinding
    // still drops the servers, so nothing is left running.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("tierguard: internal error (please report): {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(EXIT_HARNESS) } else { ExitCode::SUCCESS };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&HarnessError::input(format!("cannot start the async runtime: {e}"))),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(dispatch(cli))));
    // Everything a run started is already dropped; don't wait on stray tasks.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(code) => code,
        Err(_) => ExitCode::from(EXIT_HARNESS),
    }
}

async fn dispatch(cli: Cli) -> ExitCode {
    // Handlers go in before anything starts: a signal that arrives before
    // them would kill us without cleaning up.
    let interrupted = match interrupted() {
        Ok(signal) => signal,
        Err(e) => return fail(&HarnessError::input(format!("cannot install signal handlers: {e}"))),
    };
    match cli.command {
        Commands::Checks(args) => {
            let registry = tierguard::checks::registry::all();
            if let Some(dir) = &args.docs {
                return match tierguard::checks::registry::write_docs(dir) {
                    Ok(pages) => {
                        say(&format!("{} page(s) up to date in {}", pages.len(), dir.display()));
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        tierguard::run::tell(&format!("error: {}: {e}", dir.display()));
                        ExitCode::from(2)
                    }
                };
            }
            if args.json {
                let list: Vec<_> = registry
                    .map(|c| serde_json::json!({ "id": c.id, "severity": c.severity, "summary": c.summary }))
                    .collect();
                say(&serde_json::to_string_pretty(&list).expect("serialises"));
            } else {
                say(tierguard::checks::registry::markdown().trim_end());
            }
            ExitCode::SUCCESS
        }
        Commands::Diff(args) => {
            let overrides = Overrides { backend: args.backend, seed: args.seed, quiet: args.quiet, ..Overrides::default() };
            let dir = args.report_dir.clone().unwrap_or_else(tierguard::report::default_dir);
            let outcome = tokio::select! {
                outcome = tierguard::diff::diff(args.scenario.as_deref(), overrides, args.base, args.head, &dir) => outcome,
                signal = interrupted => Err(HarnessError::Interrupted(signal)),
            };
            match outcome {
                Ok(difference) => {
                    for line in difference.lines() {
                        say(&line);
                    }
                    say(&format!("seed {}; reports in {}", difference.seed, dir.display()));
                    if difference.worse() {
                        ExitCode::from(EXIT_GATE_FAILED)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(&e),
            }
        }
        Commands::Merge(args) => match tierguard::merge::merge(&args.dirs, &args.report_dir) {
            Ok(merged) => {
                for note in &merged.notes {
                    tierguard::run::tell(note);
                }
                say(terminal::summary(&merged.report, &args.report_dir, merged.gate).trim_end());
                if merged.failed {
                    ExitCode::from(EXIT_GATE_FAILED)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(&e),
        },
        Commands::Replay(args) => {
            let overrides = Overrides {
                backend: args.backend,
                report_dir: args.report_dir,
                ..Overrides::default()
            };
            let outcome = tokio::select! {
                outcome = replay::replay(&args.file, overrides) => outcome,
                signal = interrupted => Err(HarnessError::Interrupted(signal)),
            };
            match outcome {
                Ok(replayed) => {
                    let r = &replayed.repro;
                    say(&format!("{} {} {} (seed {})
{}", r.check, r.tier, r.object, r.seed, r.case.sql()));
                    if replayed.reproduced {
                        say(&format!("reproduced: {}", replayed.message));
                        ExitCode::from(EXIT_GATE_FAILED)
                    } else {
                        say(&format!("not reproduced: {}", replayed.message));
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(&e),
            }
        }
        Commands::Run(args) => {
            let scenario_path = args.scenario.clone();
            let scenario = match Scenario::resolve(scenario_path.as_deref(), args.overrides()) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let mut interrupted = std::pin::pin!(interrupted);
            let outcome = tokio::select! {
                outcome = run::run(&scenario) => outcome,
                signal = &mut interrupted => Err(HarnessError::Interrupted(signal)),
            };
            match outcome {
                Ok(outcome) => {
                    say(terminal::summary(&outcome.report, &outcome.dir, Gate::of(&scenario)).trim_end());
                    if let Some(kept) = &outcome.kept {
                        for command in kept.commands() {
                            say(&command);
                        }
                        tierguard::run::tell("the servers stay up until Ctrl-C (or SIGTERM), which stops and removes them");
                        interrupted.await;
                    }
                    if outcome.failed {
                        ExitCode::from(EXIT_GATE_FAILED)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(&e),
            }
        }
    }
}

/// Installs the handlers now; the future resolves on Ctrl-C, SIGTERM, a
/// closed terminal or dropped SSH session (SIGHUP) or SIGQUIT. The select
/// above then drops the run, which stops servers and removes containers
/// and temp folders.
fn interrupted() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut quit = signal(SignalKind::quit())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => "SIGHUP",
            _ = quit.recv() => "SIGQUIT",
        }
    })
}

/// A line on standard output. A reader that went away (`| head`) is no
/// reason to fail: the run's verdict is its exit status and reports.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn fail(error: &HarnessError) -> ExitCode {
    tierguard::run::tell(&format!("error: {error}"));
    ExitCode::from(EXIT_HARNESS)
}
