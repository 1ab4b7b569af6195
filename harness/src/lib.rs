//! tierguard: integrity and tenant-isolation audit harness for multi-tenant
//! PostgreSQL systems split over several databases.
//!
//! The modules follow a run: [`scenario`] → [`provision`] → [`load`] →
//! [`catalog`] → [`checks`] → [`report`]; [`run`] strings them together.
//! [`sql`] holds the quoting every one of them uses.

pub mod catalog;
pub mod checks;
pub mod cli;
pub mod error;
pub mod expectations;
pub mod load;
pub mod names;
pub mod provision;
pub mod replay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod sql;
pub mod workload;
