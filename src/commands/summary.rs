//! `summary DIR`: rates with 95 % intervals and n per group.

use std::fmt::Write as _;

use anyhow::Result;

use crate::analysis::select::{check_param, load_dir, outcome_set, parse_where};
use crate::analysis::summary::{Group, groups, pct};
use crate::cli::{Format, SummaryArgs};
use crate::error::usage;
use crate::text::{csv_field, render_table};

pub(crate) fn summary(a: &SummaryArgs) -> Result<()> {
    let set = outcome_set(&a.sel.outcome)?;
    let (grid, runs) = load_dir(&a.dir)?;
    let filt = parse_where(&grid, &a.sel.filter)?;
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
    print!("{}", render_groups(&names, &a.sel.outcome, &gs, a.sel.format)?);
    Ok(())
}

fn render_groups(by: &[String], outcome: &str, groups: &[Group], fmt: Format) -> Result<String> {
    let mut s = String::new();
    let rate_h = format!("p_{outcome}");
    match fmt {
        Format::Json => {
            s = serde_json::to_string_pretty(groups)?;
            s.push('\n');
        }
        Format::Csv => {
            let mut h: Vec<String> = by.to_vec();
            h.extend(["k", "n", "seeds", "cells", "deff", &rate_h, "lo", "hi"].map(String::from));
            writeln!(s, "{}", h.join(","))?;
            for g in groups {
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
                ]);
                writeln!(s, "{}", r.join(","))?;
            }
        }
        Format::Table | Format::Markdown => {
            let mut header: Vec<String> = by.to_vec();
            header.extend([format!("{outcome} (95% CI)"), "k/n".into(), "seeds".into()]);
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    let mut r: Vec<String> = g.key.0.iter().map(|(_, v)| v.clone()).collect();
                    r.push(pct(g.rate, g.lo, g.hi));
                    r.push(format!("{}/{}", g.k, g.n));
                    r.push(if g.cells > 1 {
                        format!("{} × {} cells", g.seeds, g.cells)
                    } else {
                        g.seeds.to_string()
                    });
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
