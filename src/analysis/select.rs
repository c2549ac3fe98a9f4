//! Choosing runs: a results directory's grid and outcomes, `--where` filters parsed by each
//! parameter's own parser and compared as values, parameter names and outcome sets.

use std::path::Path;

use anyhow::Result;

use super::tables::Outcomes;
use crate::core::Outcome;
use crate::error::usage;
use crate::grid::Grid;
use crate::params::{PARAMS, Value, closest, param_index};
use crate::store::manifest::Manifest;

/// The grid of a results directory (from its manifest) and every run's outcome.
pub(crate) fn load_dir(dir: &Path) -> Result<(Grid, Outcomes)> {
    let m = Manifest::load_dir(dir)?;
    let grid = Grid::build(&m.config()?)?;
    let outcomes = Outcomes::load(&grid, &dir.join(crate::store::RUNS))?;
    Ok((grid, outcomes))
}

/// `--where` pairs: (parameter index, canonical value).
pub(crate) type Filter = Vec<(usize, Value)>;

/// Does a cell match every `--where` pair?
pub(crate) fn matches(grid: &Grid, cell: usize, filter: &Filter) -> bool {
    filter.iter().all(|(i, v)| grid.cells[cell].values[*i] == *v)
}

/// The distinct values of parameter `i` among the grid's cells, in canonical order.
pub(crate) fn values_present(grid: &Grid, i: usize) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in &grid.cells {
        let s = c.values[i].to_string();
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// Parses `--where k=v,…`: each value by its parameter's own parser (as in TOML), so
/// `lr=0.50` matches `0.5` and `batch=1` matches `online`. A value no cell has is an error
/// listing the values present.
pub(crate) fn parse_where(grid: &Grid, items: &[String]) -> Result<Filter> {
    let mut out = Vec::new();
    for it in items {
        let Some((k, v)) = it.split_once('=') else {
            return usage(format!("--where {it}: write key=value, e.g. --where layout=relu-sigmoid"));
        };
        let i = check_param(k.trim(), "--where")?;
        let present = values_present(grid, i);
        let value = match PARAMS[i].parse_text(v, &grid.datasets) {
            Ok(x) => x,
            Err((msg, _)) => {
                return usage(format!(
                    "--where {it}: {msg} (values present for `{}`: {})",
                    PARAMS[i].name,
                    present.join(", ")
                ));
            }
        };
        if !grid.cells.iter().any(|c| c.values[i] == value) {
            return usage(format!(
                "--where {it}: no run has {} = {value} (values present: {})",
                PARAMS[i].name,
                present.join(", ")
            ));
        }
        out.push((i, value));
    }
    Ok(out)
}

/// The index of parameter `k`, or a usage error naming the closest parameter.
pub(crate) fn check_param(k: &str, flag: &str) -> Result<usize> {
    match param_index(k) {
        Some(i) => Ok(i),
        None => {
            let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
            let hint = closest(k, names.iter().copied())
                .map(|c| format!(" — did you mean `{c}`?"))
                .unwrap_or_default();
            usage(format!("{flag}: unknown parameter `{k}`{hint} (parameters: {})", names.join(", ")))
        }
    }
}

/// `--at-epoch N`: the outcomes as if max_epochs had been N ([`Outcomes::at_epoch`]). N above
/// the max_epochs of a cell matching `filter` is a usage error naming the largest valid value.
pub(crate) fn at_epoch(grid: &Grid, runs: Outcomes, filter: &Filter, n: Option<u32>) -> Result<Outcomes> {
    let Some(n) = n else { return Ok(runs) };
    let selected = || grid.cells.iter().filter(|c| matches(grid, c.index, filter));
    let budgets: Vec<u32> = selected().map(|c| c.budget()).collect();
    if let Some(max) = budgets.iter().copied().min().filter(|&m| n > m) {
        let which = if budgets.iter().all(|&b| b == max) {
            String::new()
        } else {
            let c = selected().find(|c| c.budget() == max).expect("a cell has the minimum");
            format!(", e.g. the cell {}", c.describe(&grid.varied))
        };
        return usage(format!(
            "--at-epoch {n}: the selected runs were trained for at most {max} epochs (max_epochs = {max}{which}): the largest valid value is {max}"
        ));
    }
    Ok(runs.at_epoch(n))
}

/// The lines printed under a table computed with `--at-epoch N`: what it means, and the caveat
/// for cells matching `filter` in which death is not permanent and N cuts short: there `dead`
/// is judged at max_epochs only, so a run with a dead layer at N that was still undecided
/// counts as stalled at N ([`Outcomes::at_epoch`]).
pub(crate) fn at_epoch_notes(grid: &Grid, filter: &Filter, n: Option<u32>) -> Vec<String> {
    let Some(n) = n else { return Vec::new() };
    let mut out = vec![format!(
        "at epoch {n}: as if max_epochs had been {n} (runs not decided by epoch {n} count as stalled)"
    )];
    let k = grid
        .cells
        .iter()
        .filter(|c| matches(grid, c.index, filter) && n < c.budget() && !c.trainer.death_is_permanent())
        .count();
    if k > 0 {
        out.push(format!(
            "note: in {k} selected cell(s) death is not permanent (momentum or batch statistics): `dead` is judged at max_epochs only, so there a run undecided by epoch {n} counts as stalled even if a layer was dead at {n}"
        ));
    }
    out
}

/// Which outcomes count for `--outcome` (`failed` = everything but converged).
pub(crate) fn outcome_set(o: &str) -> Result<[bool; 4]> {
    match o {
        "failed" => Ok([false, true, true, true]),
        _ => match o.parse::<Outcome>() {
            Ok(x) => {
                let mut s = [false; 4];
                s[x as usize] = true;
                Ok(s)
            }
            Err(_) => usage(format!(
                "--outcome {o}: use converged, diverged, dead, stalled or failed (= not converged)"
            )),
        },
    }
}
