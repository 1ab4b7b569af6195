//! A small, fully specified RNG (SplitMix64), and stable hashing of names
//! into seeds: the seeder seeds each value from the run seed, table, column
//! and row number; the probes draw their cases the same way. Every value is a pure function
//! of those, so any row's key can be recomputed without storing it (children
//! in other tiers pick parents that way), and the same seed gives the same
//! bytes on every machine and release.

use rand::RngCore;

pub struct RowRng(u64);

impl RowRng {
    /// The generator for one (stream, row) pair.
    pub fn new(stream: u64, row: u64) -> RowRng {
        let mut rng = RowRng(stream ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next_u64(); // decorrelate neighbouring rows
        rng
    }
}

impl RngCore for RowRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// FNV-1a: a stable hash for naming streams (std's hasher may change).
pub fn stream(seed: u64, parts: &[&str]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_numbers_and_streams_differ() {
        assert_ne!(RowRng::new(7, 1).next_u64(), RowRng::new(7, 2).next_u64());
        assert_ne!(stream(1, &["a", "b"]), stream(1, &["ab"]));
        // Pinned (computed independently): changing the algorithm changes
        // every seeded database, and saved seeds would stop reproducing.
        assert_eq!(RowRng::new(0, 0).next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(RowRng::new(7, 1).next_u64(), 0xfed9_eeb4_936d_e39d);
        assert_eq!(stream(0, &[]), 0xcbf2_9ce4_8422_2325);
    }
}
