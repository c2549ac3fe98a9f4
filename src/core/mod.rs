//! The training core: data sets, network specs, initialisation, the SIMD-lane kernels and the
//! run loop. No I/O, no polars: it builds and tests in seconds.

pub mod capacity;
pub mod data;
pub mod dispatch;
mod fused;
pub mod init;
pub mod lanes;
pub mod net;
pub mod seed;
mod simd;
pub mod spec;
pub mod train;

#[cfg(test)]
mod tests;

pub use capacity::Requirement;
pub use data::Dataset;
pub use spec::{Activation, Batch, BiasInit, InitDist, InitOrder, Layout, Loss, SampleOrder, Targets};
pub use train::{DeadCause, Mechanism, Outcome, Params, RunResult, SpecError, TrainSpec, Trainer, Trajectory, same_value};
