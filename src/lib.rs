//! initgrid: seeded grids of tiny-network trainings, with statistics instead of anecdotes.
//!
//! Architecture, one concern per module: `config` (TOML → typed grid) → `grid` (cells, ids,
//! seeds) → `core` (train one cell's replicates) → `sink` (Parquet chunks) → `stats`
//! (intervals, paired tests) → `report` (HTML).

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod core;
pub mod findings;
pub mod grid;
pub mod lock;
pub mod manifest;
pub mod merge;
pub mod replay;
pub mod report;
pub mod report_data;
pub mod runner;
pub mod sink;
pub mod stats;
pub mod summary;
pub mod tables;
