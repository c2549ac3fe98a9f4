//! Adaptive grids (`[adaptive]`): every cell trains seeds in stages and stops as soon as its
//! rate is pinned down.
//!
//! **Stopping rule.** Stage j trains replicates `[b_j, b_{j+1})` of every cell still open
//! (b₀ = 0, b₁ = min_seeds, then doubling, capped at max_seeds: [`super::units::stage_bounds`]).
//! After each stage a cell stops when the 95 % Beta–Binomial mixture confidence sequence of its
//! outcome rate ([`crate::analysis::confseq`]; Robbins 1970, Howard et al. 2021) lies within
//! ±precision of the estimate, or when it reaches max_seeds. The sequence covers the rate at
//! every n at once, so stopping on what it shows keeps 95 % coverage (tests/coverage.rs
//! simulates it; a Wilson interval checked after every stage would not).
//!
//! **Common random numbers.** Cell c trains replicates `0..n_c` with the seeds every cell uses
//! for those replicates, so two cells are paired on the seeds both have (`0..min(n_a, n_b)`).
//!
//! **Determinism.** A cell's stages depend only on its own runs, which are pure functions of
//! (config, cell, replicate), so `n_c` is the same for any thread count, shard split or resume.
//! The walk below re-derives it from the chunks on disk: resume, shards (shard K owns the cells
//! c mod N = K and runs their stages alone), `merge` and a grown grid (runs reused by
//! (cell_id, replicate)) all follow from it.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::units::Partition;
use crate::analysis::confseq::{BetaPrior, cs_precise_enough};
use crate::analysis::select::outcome_set;
use crate::analysis::stats::CONFIDENCE;
use crate::analysis::tables::Outcomes;
use crate::grid::Grid;
use crate::store::runs::read_keys_frame;

/// Why a cell stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Its confidence sequence reached ±precision.
    Precise,
    /// It reached max_seeds first.
    Cap,
}

/// Where one cell stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellState {
    pub cell: usize,
    /// Seeds trained and stored (replicates `0..n`).
    pub n: u32,
    /// `None` while it still has a stage to train.
    pub stop: Option<Stop>,
}

/// The state of a set of cells, from the chunks present.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    /// Windows holding the cells' runs, cell by cell and stage by stage (canonical run order).
    pub windows: Vec<usize>,
    /// The next stage's window of every cell still open: what to train now.
    pub missing: Vec<usize>,
    pub cells: Vec<CellState>,
}

impl Walk {
    /// Runs in [`Walk::windows`].
    pub(crate) fn runs(&self) -> u64 {
        self.cells.iter().map(|c| c.n as u64).sum()
    }
}

/// Follows the stopping rule over the chunks of an adaptive grid, reading each chunk once.
pub(crate) struct Walker<'a> {
    grid: &'a Grid,
    part: Partition,
    bounds: Vec<u32>,
    set: [bool; 4],
    precision: f64,
    outcomes: Outcomes,
    absorbed: Vec<bool>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(grid: &'a Grid) -> Result<Walker<'a>> {
        let a = grid.adaptive.as_ref().expect("an adaptive grid");
        let part = Partition::of(grid);
        let Partition::Adaptive { bounds, .. } = &part else {
            unreachable!("adaptive grids have an adaptive partition")
        };
        Ok(Walker {
            grid,
            bounds: bounds.clone(),
            set: outcome_set(&a.outcome)?,
            precision: a.precision,
            outcomes: Outcomes::empty(grid),
            absorbed: vec![false; part.n_windows()],
            part,
        })
    }

    /// Walks the stages of `cells`. `locate(w)` is the chunk file of window w; `sound(w, path)`
    /// checks an existing chunk before it is read (false: treat it as missing).
    pub(crate) fn walk(
        &mut self,
        cells: &[usize],
        locate: impl Fn(usize) -> PathBuf,
        mut sound: impl FnMut(usize, &Path) -> Result<bool>,
    ) -> Result<Walk> {
        let mut out = Walk {
            windows: Vec::new(),
            missing: Vec::new(),
            cells: Vec::with_capacity(cells.len()),
        };
        let stages = self.bounds.len() - 1;
        for &c in cells {
            let mut st = CellState { cell: c, n: 0, stop: None };
            for j in 0..stages {
                let w = self.part.adaptive_window(j, c);
                if !self.absorbed[w] {
                    let p = locate(w);
                    if !p.exists() || !sound(w, &p)? {
                        out.missing.push(w);
                        break;
                    }
                    self.outcomes.absorb(self.grid, &read_keys_frame(&p)?, &p)?;
                    self.absorbed[w] = true;
                }
                out.windows.push(w);
                st.n = self.bounds[j + 1];
                if precise_at(&self.outcomes, self.set, c, st.n, self.precision) {
                    st.stop = Some(Stop::Precise);
                    break;
                }
                if j + 1 == stages {
                    st.stop = Some(Stop::Cap);
                }
            }
            out.cells.push(st);
        }
        Ok(out)
    }
}

/// THE stopping rule: cell `c`'s confidence sequence for the outcomes in `set`, over its
/// replicates `0..n`, lies within ±precision of its rate.
fn precise_at(outcomes: &Outcomes, set: [bool; 4], c: usize, n: u32, precision: f64) -> bool {
    let k = (0..n).filter(|&r| outcomes.get(c, r).is_some_and(|o| set[o as usize])).count() as u64;
    cs_precise_enough(k, n as u64, CONFIDENCE, BetaPrior::JEFFREYS, precision)
}

/// The cells shard `shard` owns in an adaptive grid (all for `None`).
pub(crate) fn shard_cells(grid: &Grid, shard: Option<(u32, u32)>) -> Vec<usize> {
    (0..grid.cells.len())
        .filter(|&c| shard.is_none_or(|(k, n)| c % n as usize == k as usize))
        .collect()
}

/// Every cell's final state from a finished runs table's outcomes: `Err(cell, why)` for the
/// first cell whose stored seeds are not what the stopping rule gives (for `verify`).
pub(crate) fn expected_seeds(grid: &Grid, outcomes: &Outcomes) -> Result<Vec<CellState>, (usize, String)> {
    let a = grid.adaptive.as_ref().expect("an adaptive grid");
    let set = outcome_set(&a.outcome).map_err(|e| (0, format!("{e:#}")))?;
    let Partition::Adaptive { bounds, .. } = Partition::of(grid) else {
        unreachable!("adaptive grids have an adaptive partition")
    };
    let mut out = Vec::with_capacity(grid.cells.len());
    for c in 0..grid.cells.len() {
        let stored = (0..grid.seeds).take_while(|&r| outcomes.get(c, r).is_some()).count() as u32;
        let mut st = CellState { cell: c, n: 0, stop: None };
        for j in 1..bounds.len() {
            let n = bounds[j];
            if n > stored {
                return Err((c, format!("holds replicates 0..{stored}; the stopping rule needs 0..{n} or fewer")));
            }
            st.n = n;
            if precise_at(outcomes, set, c, n, a.precision) {
                st.stop = Some(Stop::Precise);
                break;
            }
            if j + 1 == bounds.len() {
                st.stop = Some(Stop::Cap);
            }
        }
        if stored != st.n {
            return Err((c, format!("holds {stored} seeds where the stopping rule stops at {}", st.n)));
        }
        if (stored..grid.seeds).any(|r| outcomes.get(c, r).is_some()) {
            return Err((c, format!("has runs beyond replicate {stored} with gaps before them")));
        }
        out.push(st);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn grid(extra: &str) -> Grid {
        let src = format!(
            "name = \"a\"\n[adaptive]\nprecision = 0.15\nmin_seeds = 8\nmax_seeds = 128\n{extra}\n[train]\ndataset = \"two\"\nmax_epochs = 40\n[grid]\nlayout = [\"relu-sigmoid\", \"sigmoid-sigmoid\"]\nlr = [0.5, 5.0]\n"
        );
        Grid::build(&Config::parse("a.toml", &src).unwrap()).unwrap()
    }

    #[test]
    fn stages_double_from_min_to_the_cap() {
        assert_eq!(super::super::units::stage_bounds(8, 64), vec![0, 8, 16, 32, 64]);
        assert_eq!(super::super::units::stage_bounds(100, 300), vec![0, 100, 200, 300]);
        assert_eq!(super::super::units::stage_bounds(5, 5), vec![0, 5]);
        let g = grid("");
        assert_eq!(g.seeds, 128);
        let p = Partition::of(&g);
        assert_eq!(p.n_windows(), 4 * 5);
        // window = stage · cells + cell, holding that stage's replicates of that cell
        let u = p.window_units(2 * 4 + 3);
        assert_eq!((u[0].cell, u[0].r0, u.last().unwrap().r1), (3, 16, 32));
        assert_eq!(p.runs_in(3 * 4 + 1), 32);
        assert_eq!(p.runs_in(4 * 4 + 1), 64);
        // a shard owns every stage of its cells
        let mine = p.shard_windows(Some((1, 3)));
        assert!(mine.iter().all(|w| (w % 4) % 3 == 1));
        assert_eq!(mine.len(), 5);
    }

    #[test]
    fn the_walk_stops_each_cell_by_its_own_confidence_sequence() {
        let g = grid("");
        let dir = tempfile::tempdir().unwrap();
        let part = Partition::of(&g);
        let mut walker = Walker::new(&g).unwrap();
        let cells: Vec<usize> = (0..g.cells.len()).collect();
        let locate = |w: usize| crate::store::chunk_path(dir.path(), w);
        loop {
            let walk = walker.walk(&cells, locate, |_, _| Ok(true)).unwrap();
            if walk.missing.is_empty() {
                // every cell stopped, by the rule, at a stage bound
                for st in &walk.cells {
                    assert!(st.stop.is_some());
                    assert!([8, 16, 32, 64, 128].contains(&st.n));
                }
                assert_eq!(
                    walk.windows.len(),
                    walk.cells
                        .iter()
                        .map(|c| [8, 16, 32, 64, 128].iter().position(|&b| b == c.n).unwrap() + 1)
                        .sum::<usize>()
                );
                // the finished outcomes give the same seeds per cell
                let mut o = Outcomes::empty(&g);
                for &w in &walk.windows {
                    let p = locate(w);
                    o.absorb(&g, &read_keys_frame(&p).unwrap(), &p).unwrap();
                }
                assert_eq!(expected_seeds(&g, &o).unwrap(), walk.cells);
                // some cell stopped early (a rate near 0 or 1 is pinned down fast), some not
                assert!(walk.cells.iter().any(|c| c.n < 128), "{:?}", walk.cells);
                assert!(walk.cells.iter().any(|c| c.n != walk.cells[0].n), "{:?}", walk.cells);
                return;
            }
            for w in walk.missing {
                let rows: Vec<_> = part
                    .window_units(w)
                    .iter()
                    .flat_map(|u| crate::exec::runner::run_unit(&g, *u, None).0)
                    .collect();
                let p = locate(w);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                crate::store::atomic::write_parquet_atomic(
                    &p,
                    &mut crate::store::runs::runs_frame(&g, &rows).unwrap(),
                    crate::store::atomic::Encoding::Chunk,
                )
                .unwrap();
            }
        }
    }
}
