//! Property-based probing with proptest: cases drawn from the run seed (so
//! the same seed gives the same probe sequence), and on failure shrunk to a
//! minimal case (lowest tenant numbers, simplest query shape). Probes are
//! async, so the value trees are walked here rather than by proptest's
//! synchronous runner: no thread ever blocks on the database.

use std::fmt::Debug;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per property and table: enough to meet every tenant pair and
/// query shape of a CI-sized scenario several times.
pub const CASES: u32 = 24;
/// Shrinking steps at most.
const SHRINK_STEPS: u32 = 256;

/// Looks for a value of `strategy` that makes `holds` fail; returns the
/// minimal one with its failure message.
pub async fn falsify<S, F>(seed: u64, stream: &str, strategy: S, mut holds: F) -> Option<(S::Value, String)>
where
    S: Strategy,
    S::Value: Clone + Debug,
    F: AsyncFnMut(S::Value) -> Result<(), String>,
{
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&crate::rng::stream(seed, &[stream]).to_le_bytes());
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    for _ in 0..CASES {
        let mut tree = strategy.new_tree(&mut runner).expect("strategies here always produce a value");
        let Err(reason) = holds(tree.current()).await else { continue };
        // Shrink: step towards simpler values while the failure persists,
        // backing off (complicate) when a simpler one passes.
        let mut minimal = (tree.current(), reason);
        let mut steps = 0;
        'shrink: while steps < SHRINK_STEPS && tree.simplify() {
            loop {
                steps += 1;
                match holds(tree.current()).await {
                    Err(reason) => {
                        minimal = (tree.current(), reason);
                        break;
                    }
                    Ok(()) if steps < SHRINK_STEPS && tree.complicate() => continue,
                    Ok(()) => break 'shrink,
                }
            }
        }
        return Some(minimal);
    }
    None
}
