//! The SQLSTATEs the probes tell refusals apart by, named once.
//! PostgreSQL 18 reports an `ON DELETE/UPDATE RESTRICT` refusal as
//! `restrict_violation` (23001) where 15 to 17 say `foreign_key_violation`
//! (23503): both are a reference refusing the write.

pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub const FOREIGN_KEY_VIOLATION: &str = "23503";
pub const RESTRICT_VIOLATION: &str = "23001";
pub const CHECK_VIOLATION: &str = "23514";
pub const UNIQUE_VIOLATION: &str = "23505";
pub const NOT_NULL_VIOLATION: &str = "23502";
pub const EXCLUSION_VIOLATION: &str = "23P01";
pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// Meeting another transaction: deadlock, serialization failure, lock
/// wait given up.
pub const TRANSIENT: [&str; 3] = ["40P01", "40001", "55P03"];

/// A foreign key refused the write, on any supported version.
pub fn by_reference(code: &str) -> bool {
    code == FOREIGN_KEY_VIOLATION || code == RESTRICT_VIOLATION
}
