//! Property-based probing with proptest: cases drawn from the run seed (so
//! the same seed gives the same probe sequence), and on failure shrunk to a
//! minimal case (lowest tenant numbers, simplest query shape).

use std::fmt::Debug;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// Cases per property and table: enough to meet every tenant pair and
/// query shape of a CI-sized scenario several times.
pub const CASES: u32 = 24;

/// Looks for a value of `strategy` that makes `holds` fail; returns the
/// minimal one with its failure message. `holds` may block on async work:
/// it runs on a blocking section of the runtime.
pub fn falsify<S>(seed: u64, stream: &str, strategy: S, holds: impl Fn(&S::Value) -> Result<(), String>) -> Option<(S::Value, String)>
where
    S: Strategy,
    S::Value: Clone + Debug,
{
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&crate::seed::stream_of(seed, stream).to_le_bytes());
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let result = tokio::task::block_in_place(|| runner.run(&strategy, |value| holds(&value).map_err(TestCaseError::fail)));
    match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, value)) => Some((value, reason.to_string())),
        Err(TestError::Abort(reason)) => panic!("proptest gave up: {reason}"),
    }
}

/// Runs a future to completion from inside a `falsify` closure.
pub fn wait<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}
