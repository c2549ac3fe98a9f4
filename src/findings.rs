//! The findings document (markdown), generated from a results directory.

use std::path::Path;

use anyhow::Result;

use crate::grid::Grid;
use crate::manifest::Manifest;
use crate::tables::CellStats;

pub fn markdown(_dir: &Path, grid: &Grid, stats: &[CellStats], m: &Manifest) -> Result<String> {
    Ok(format!("# {}\n\n{}\n", m.resolved.name, crate::summary::closing_table(grid, stats)))
}
