//! `summary DIR`: rates with 95 % intervals and n per group.

use std::fmt::Write as _;

use anyhow::Result;

use crate::analysis::curves::{Budget, binding_legend, group_budgets, with_budgets};
use crate::analysis::select::{at_epoch, at_epoch_notes, check_param, load_dir, outcome_set, parse_where};
use crate::analysis::summary::{Group, groups, marked, pct};
use crate::cli::{Format, SummaryArgs};
use crate::error::usage;
use crate::text::{csv_field, render_table};

pub(crate) fn summary(a: &SummaryArgs) -> Result<()> {
    let set = outcome_set(&a.sel.outcome)?;
    let (grid, runs) = load_dir(&a.dir)?;
    let filt = parse_where(&grid, &a.sel.filter)?;
    let runs = at_epoch(&grid, runs, &filt, a.sel.at_epoch)?;
    let stats = runs.cell_stats(&grid);
    let by: Vec<usize> = if a.by.is_empty() {
        grid.varied.clone()
    } else {
        a.by.iter().map(|s| check_param(s.trim(), "--by")).collect::<Result<_>>()?
    };
    let gs = groups(&grid, &runs, &stats, &by, &filt, set);
    if gs.is_empty() {
        return usage(format!("no runs match --where {}", a.sel.filter.join(",")));
    }
    let names: Vec<String> = by.iter().map(|&i| crate::params::PARAMS[i].name.to_string()).collect();
    let budgets = group_budgets(&grid, &stats, &by, &filt);
    let bs: Vec<Budget> = gs.iter().map(|g| budget_of(&budgets, g)).collect();
    print!("{}", render_groups(&names, &a.sel.outcome, &gs, &bs, a.sel.format)?);
    if matches!(a.sel.format, Format::Table | Format::Markdown) {
        for l in at_epoch_notes(&grid, &filt, a.sel.at_epoch) {
            println!("{l}");
        }
        if let Some(l) = binding_legend(&bs) {
            println!("{l}");
        }
    }
    Ok(())
}

/// The budget of group `g` (every group has cells, so it has a budget).
fn budget_of(budgets: &std::collections::HashMap<Vec<String>, Budget>, g: &Group) -> Budget {
    let key: Vec<String> = g.key.0.iter().map(|(_, v)| v.clone()).collect();
    budgets[&key]
}

fn render_groups(by: &[String], outcome: &str, groups: &[Group], budgets: &[Budget], fmt: Format) -> Result<String> {
    let mut s = String::new();
    let rate_h = format!("p_{outcome}");
    match fmt {
        Format::Json => {
            let v = with_budgets(groups, budgets);
            s = serde_json::to_string_pretty(&v)?;
            s.push('\n');
        }
        Format::Csv => {
            let mut h: Vec<String> = by.to_vec();
            h.extend(
                [
                    "k",
                    "n",
                    "seeds",
                    "cells",
                    "deff",
                    &rate_h,
                    "lo",
                    "hi",
                    "budget_min",
                    "budget_max",
                    "budget_binding",
                ]
                .map(String::from),
            );
            writeln!(s, "{}", h.join(","))?;
            for (g, b) in groups.iter().zip(budgets) {
                let mut r: Vec<String> = g.key.0.iter().map(|(_, v)| csv_field(v)).collect();
                r.extend([
                    g.k.to_string(),
                    g.n.to_string(),
                    g.seeds.to_string(),
                    g.cells.to_string(),
                    format!("{:.4}", g.deff),
                    format!("{:.6}", g.rate),
                    format!("{:.6}", g.lo),
                    format!("{:.6}", g.hi),
                    b.budget_min.to_string(),
                    b.budget_max.to_string(),
                    b.budget_binding.to_string(),
                ]);
                writeln!(s, "{}", r.join(","))?;
            }
        }
        Format::Table | Format::Markdown => {
            let mut header: Vec<String> = by.to_vec();
            header.extend([format!("{outcome} (95% CI)"), "k/n".into(), "seeds".into(), "budget".into()]);
            let rows: Vec<Vec<String>> = groups
                .iter()
                .zip(budgets)
                .map(|(g, b)| {
                    let mut r: Vec<String> = g.key.0.iter().map(|(_, v)| v.clone()).collect();
                    r.push(marked(pct(g.rate, g.lo, g.hi), b.mark()));
                    r.push(format!("{}/{}", g.k, g.n));
                    r.push(if g.cells > 1 {
                        format!("{} × {} cells", g.seeds, g.cells)
                    } else {
                        g.seeds.to_string()
                    });
                    r.push(b.label());
                    r
                })
                .collect();
            s = render_table(&header, &rows, fmt == Format::Markdown);
            if groups.iter().any(|g| g.cells > 1) {
                s.push_str("groups pooling several cells: intervals count seeds, not cells × seeds (seed-clustered Wilson)\n");
            }
        }
    }
    Ok(s)
}
