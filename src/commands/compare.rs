//! `compare DIR --factor NAME`: paired comparison of a factor's levels on shared seeds.

use anyhow::Result;
use polars::prelude::*;

use crate::analysis::curves::{Budget, binding_legend, pair_budget, with_budgets};
use crate::analysis::paired::{compare_frame, paired_in, pairs_phrase};
use crate::analysis::select::{at_epoch, at_epoch_notes, check_param, load_dir, parse_where};
use crate::cli::{CompareArgs, Format};
use crate::store::atomic::{Encoding, write_parquet_atomic};
use crate::store::compare_path;
use crate::text::{csv_field, fmt_p, render_table};

pub(crate) fn compare(a: &CompareArgs) -> Result<()> {
    let (grid, runs) = load_dir(&a.dir)?;
    let filt = parse_where(&grid, &a.sel.filter)?;
    let runs = at_epoch(&grid, runs, &filt, a.sel.at_epoch)?;
    let rows = paired_in(&grid, &runs, &a.factor, &filt, &a.sel.outcome)?;
    let stats = runs.cell_stats(&grid);
    let fi = check_param(&a.factor, "--factor")?;
    let budgets: Vec<Budget> = rows
        .iter()
        .map(|r| pair_budget(&grid, &stats, fi, &filt, &r.scope, &r.level_a, &r.level_b))
        .collect();
    let mut df = compare_frame(&rows, &a.factor)?;
    df.with_column(Column::new(
        "budget_min".into(),
        budgets.iter().map(|b| b.budget_min).collect::<Vec<_>>(),
    ))?;
    df.with_column(Column::new(
        "budget_max".into(),
        budgets.iter().map(|b| b.budget_max).collect::<Vec<_>>(),
    ))?;
    df.with_column(Column::new(
        "budget_binding".into(),
        budgets.iter().map(|b| b.budget_binding).collect::<Vec<_>>(),
    ))?;
    let path = compare_path(&a.dir, &a.factor);
    write_parquet_atomic(&path, &mut df, Encoding::Table)?;
    match a.sel.format {
        Format::Json => {
            let v = with_budgets(&rows, &budgets);
            println!("{}", serde_json::to_string_pretty(&v)?)
        }
        Format::Csv => {
            print!("{}", frame_csv(&df)?);
        }
        Format::Table | Format::Markdown => {
            let header: Vec<String> = [
                "scope",
                "A",
                "B",
                "pairs",
                "seeds × cells",
                "both",
                "only A",
                "only B",
                "neither",
                "A−B (95% CI)",
                "p",
                "Holm p",
                "budget",
            ]
            .map(String::from)
            .to_vec();
            let body: Vec<Vec<String>> = rows
                .iter()
                .zip(&budgets)
                .map(|(r, b)| {
                    vec![
                        r.scope.clone(),
                        r.level_a.clone(),
                        r.level_b.clone(),
                        r.pairs.to_string(),
                        format!("{} × {}", r.seeds, r.cells),
                        r.both.to_string(),
                        r.only_a.to_string(),
                        r.only_b.to_string(),
                        r.neither.to_string(),
                        format!(
                            "{:+.1} [{:+.1}, {:+.1}]{}",
                            100.0 * r.diff,
                            100.0 * r.diff_lo,
                            100.0 * r.diff_hi,
                            b.mark()
                        ),
                        fmt_p(r.p_cluster),
                        fmt_p(r.p_holm),
                        b.label(),
                    ]
                })
                .collect();
            print!("{}", render_table(&header, &body, a.sel.format == Format::Markdown));
            println!(
                "p: McNemar's exact test for one cell; for pooled rows over several cells the seed-clustered McNemar test (Durkalski et al. 2003: seeds are the independent units), with a cluster-robust interval. Holm over every row."
            );
            for l in at_epoch_notes(&grid, &filt, a.sel.at_epoch) {
                println!("{l}");
            }
            if let Some(l) = binding_legend(&budgets) {
                println!("{l}");
            }
            println!("\n{} (pooled over matching cells), outcome `{}`:", a.factor, a.sel.outcome);
            for r in rows.iter().filter(|r| r.scope == "pooled") {
                println!("  {} vs {} ({}): {}", r.level_a, r.level_b, pairs_phrase(r), r.verdict);
            }
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `df` as CSV: a header, then one line per row; null is empty, floats in the shortest form
/// that reads back to the same value.
fn frame_csv(df: &DataFrame) -> Result<String> {
    let names: Vec<String> = df.columns().iter().map(|c| csv_field(c.name())).collect();
    let mut out = names.join(",");
    out.push('\n');
    for i in 0..df.height() {
        let mut row = Vec::with_capacity(df.width());
        for c in df.columns() {
            row.push(match c.get(i)? {
                AnyValue::Null => String::new(),
                AnyValue::String(s) => csv_field(s),
                AnyValue::StringOwned(s) => csv_field(&s),
                AnyValue::Float64(x) => x.to_string(),
                AnyValue::Float32(x) => x.to_string(),
                v => v.to_string(),
            });
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok(out)
}
