//! Statistics over stored results — pure functions over tables: the statistical tests and
//! intervals ([`stats`]), the aggregated tables ([`tables`]), choosing runs ([`select`]),
//! per-group rates ([`summary`]), time to convergence ([`curves`]), paired comparisons ([`paired`]) and the article's findings
//! ([`findings`]).

pub mod clustered;
pub mod confseq;
pub mod stats;

pub(crate) mod curves;
pub mod findings;
pub(crate) mod paired;
pub(crate) mod select;
pub(crate) mod summary;
pub(crate) mod tables;
