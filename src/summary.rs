//! `summary` (rates with intervals per group) and `compare` (paired comparison on shared
//! seeds), plus the closing table of a run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use crate::app::usage;
use crate::cli::{CompareArgs, Format, SummaryArgs};
use crate::config::{PARAMS, param_index};
use crate::core::Outcome;
use crate::grid::Grid;
use crate::stats::{CONFIDENCE, Interval, holm, mcnemar, paired_difference, wilson};
use crate::tables::{CellStats, Outcomes};

/// The grid of a results directory (from its manifest) and every run's outcome.
pub fn load_dir(dir: &Path) -> Result<(Grid, Outcomes)> {
    let runs = dir.join("runs.parquet");
    if !runs.exists() {
        return usage(format!(
            "{} has no runs.parquet: run a grid there first (initgrid --config … --out {}), or merge its shards",
            dir.display(),
            dir.display()
        ));
    }
    let m = crate::manifest::Manifest::load(&dir.join("manifest.json"))?;
    let grid = Grid::build(&m.config()?)?;
    let outcomes = Outcomes::load(&grid, &runs)?;
    Ok((grid, outcomes))
}

/// Does a cell match every `--where` pair?
fn matches(grid: &Grid, cell: usize, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, v)| grid.cells[cell].value(k).to_string() == *v)
}

/// Canonical text of a user-given value of parameter `name` (so `lr=0.50` matches `0.5`).
fn canonical(name: &str, v: &str) -> String {
    use crate::core::spec::*;
    let v = v.trim();
    let parsed: Option<String> = match name {
        "lr" | "momentum" | "tol" | "diverge_loss" => v.parse::<f64>().ok().map(|x| x.to_string()),
        "hidden" | "max_epochs" => v.parse::<u32>().ok().map(|x| x.to_string()),
        "batch_norm" => v.parse::<bool>().ok().map(|x| x.to_string()),
        "layout" => v.parse::<Layout>().ok().map(|x| x.to_string()),
        "init_dist" => v.parse::<InitDist>().ok().map(|x| x.to_string()),
        "bias_init" => v.parse::<BiasInit>().ok().map(|x| x.to_string()),
        "init_order" => v.parse::<InitOrder>().ok().map(|x| x.to_string()),
        "batch" => v.parse::<Batch>().ok().map(|x| x.to_string()),
        _ => None,
    };
    parsed.unwrap_or_else(|| v.to_string())
}

/// Parses `--where k=v,…` into (parameter, canonical value) pairs.
fn parse_where(items: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for it in items {
        let Some((k, v)) = it.split_once('=') else {
            return usage(format!("--where {it}: write key=value, e.g. --where layout=relu-sigmoid"));
        };
        let k = k.trim();
        check_param(k, "--where")?;
        out.push((k.to_string(), canonical(k, v)));
    }
    Ok(out)
}

fn check_param(k: &str, flag: &str) -> Result<()> {
    if param_index(k).is_none() {
        let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        let hint = crate::config::closest(k, names.iter().copied())
            .map(|c| format!(" — did you mean `{c}`?"))
            .unwrap_or_default();
        return usage(format!("{flag}: unknown parameter `{k}`{hint} (parameters: {})", names.join(", ")));
    }
    Ok(())
}

/// Which outcomes count for `--outcome` (`failed` = everything but converged).
fn outcome_set(o: &str) -> Result<[bool; 4]> {
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

#[derive(Debug, Serialize)]
struct Group {
    #[serde(flatten)]
    key: indexmap_like::Key,
    k: u64,
    n: u64,
    rate: f64,
    lo: f64,
    hi: f64,
}

mod indexmap_like {
    use serde::ser::{Serialize, SerializeMap, Serializer};
    /// Ordered (name, value) pairs serialised as a JSON object.
    #[derive(Debug, Clone)]
    pub struct Key(pub Vec<(String, String)>);
    impl Serialize for Key {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
}

pub fn summary(a: &SummaryArgs) -> Result<()> {
    let filt = parse_where(&a.filter)?;
    let set = outcome_set(&a.outcome)?;
    let (grid, runs) = load_dir(&a.dir)?;
    let stats = runs.cell_stats(&grid);
    let by: Vec<String> = if a.by.is_empty() {
        grid.varied.iter().map(|&i| PARAMS[i].name.to_string()).collect()
    } else {
        a.by.iter().map(|s| s.trim().to_string()).collect()
    };
    for b in &by {
        check_param(b, "--by")?;
    }
    // Every run of a cell shares its parameters: aggregate cell counts by the --by values.
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut acc: HashMap<Vec<String>, (u64, u64)> = HashMap::new();
    for st in stats.iter().filter(|st| matches(&grid, st.cell, &filt)) {
        let key: Vec<String> = by.iter().map(|b| grid.cells[st.cell].value(b).to_string()).collect();
        let e = acc.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0, 0)
        });
        e.0 += (0..4).filter(|&k| set[k]).map(|k| st.counts[k]).sum::<u64>();
        e.1 += st.n;
    }
    if order.is_empty() {
        return usage(format!("no runs match --where {}", a.filter.join(",")));
    }
    let groups: Vec<Group> = order
        .iter()
        .map(|key| {
            let (k, n) = acc[key];
            let ci = wilson(k, n, CONFIDENCE);
            Group {
                key: indexmap_like::Key(by.iter().cloned().zip(key.iter().cloned()).collect()),
                k,
                n,
                rate: k as f64 / n as f64,
                lo: ci.lo,
                hi: ci.hi,
            }
        })
        .collect();
    print!("{}", render_groups(&by, &a.outcome, &groups, a.format)?);
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
            h.extend(["k", "n", &rate_h, "lo", "hi"].map(String::from));
            writeln!(s, "{}", h.join(","))?;
            for g in groups {
                let mut r: Vec<String> = g.key.0.iter().map(|(_, v)| csv_field(v)).collect();
                r.extend([
                    g.k.to_string(),
                    g.n.to_string(),
                    format!("{:.6}", g.rate),
                    format!("{:.6}", g.lo),
                    format!("{:.6}", g.hi),
                ]);
                writeln!(s, "{}", r.join(","))?;
            }
        }
        Format::Table | Format::Markdown => {
            let mut header: Vec<String> = by.to_vec();
            header.extend([outcome.to_string(), "95% CI".into(), "k/n".into()]);
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    let mut r: Vec<String> = g.key.0.iter().map(|(_, v)| v.clone()).collect();
                    r.push(format!("{:.1}%", 100.0 * g.rate));
                    r.push(format!("[{:.1}, {:.1}]", 100.0 * g.lo, 100.0 * g.hi));
                    r.push(format!("{}/{}", g.k, g.n));
                    r
                })
                .collect();
            s = render_table(&header, &rows, fmt == Format::Markdown);
        }
    }
    Ok(s)
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// Aligned plain-text or markdown table.
pub fn render_table(header: &[String], rows: &[Vec<String>], markdown: bool) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        if markdown {
            format!("| {} |", parts.join(" | "))
        } else {
            parts.join("  ").trim_end().to_string()
        }
    };
    let mut s = line(header);
    s.push('\n');
    if markdown {
        let seps: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
        s.push_str(&format!("|-{}-|\n", seps.join("-|-")));
    } else {
        s.push_str(&"-".repeat(w.iter().sum::<usize>() + 2 * (w.len() - 1)));
        s.push('\n');
    }
    for r in rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    s
}

/// The closing table of a run: convergence rate by layout × learning rate (pooled over the rest).
pub fn closing_table(grid: &Grid, stats: &[CellStats]) -> String {
    let li = param_index("layout").expect("known");
    let ri = param_index("lr").expect("known");
    let mut rows_k: Vec<String> = Vec::new();
    let mut cols_k: Vec<String> = Vec::new();
    let mut acc: HashMap<(String, String), (u64, u64)> = HashMap::new();
    for s in stats {
        let c = &grid.cells[s.cell];
        let (l, r) = (c.values[li].to_string(), c.values[ri].to_string());
        if !rows_k.contains(&l) {
            rows_k.push(l.clone());
        }
        if !cols_k.contains(&r) {
            cols_k.push(r.clone());
        }
        let e = acc.entry((l, r)).or_insert((0, 0));
        e.0 += s.counts[0];
        e.1 += s.n;
    }
    let mut header = vec!["converged: layout \\ lr".to_string()];
    header.extend(cols_k.iter().cloned());
    let rows: Vec<Vec<String>> = rows_k
        .iter()
        .map(|l| {
            let mut r = vec![l.clone()];
            for c in &cols_k {
                r.push(match acc.get(&(l.clone(), c.clone())) {
                    Some(&(k, n)) => {
                        let ci = wilson(k, n, CONFIDENCE);
                        format!(
                            "{:>5.1}% [{:.0}–{:.0}] n={n}",
                            100.0 * k as f64 / n as f64,
                            100.0 * ci.lo,
                            100.0 * ci.hi
                        )
                    }
                    None => "-".into(),
                });
            }
            r
        })
        .collect();
    render_table(&header, &rows, false)
}

/// One paired comparison of two levels.
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    /// "pooled" or the other parameters of the matching cell.
    pub scope: String,
    pub level_a: String,
    pub level_b: String,
    pub pairs: u64,
    pub both: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub neither: u64,
    pub rate_a: f64,
    pub rate_b: f64,
    pub diff: f64,
    pub diff_lo: f64,
    pub diff_hi: f64,
    pub p_exact: f64,
    pub p_holm: f64,
    pub verdict: String,
}

/// Pairs runs that differ only in `factor` (same replicate, all other parameters equal).
pub fn paired(dir: &Path, factor: &str, filter: &[(String, String)], outcome: &str) -> Result<Vec<PairResult>> {
    let (grid, runs) = load_dir(dir)?;
    paired_in(&grid, &runs, factor, filter, outcome)
}

/// [`paired`] on a grid and its outcomes already in memory.
pub fn paired_in(grid: &Grid, runs: &Outcomes, factor: &str, filter: &[(String, String)], outcome: &str) -> Result<Vec<PairResult>> {
    check_param(factor, "--factor")?;
    let set = outcome_set(outcome)?;
    let fi = param_index(factor).expect("checked");
    let mut levels: Vec<String> = Vec::new();
    // Cells grouped by every other parameter: scope → [(level index, cell)]
    let mut scopes: Vec<Vec<(usize, usize)>> = Vec::new();
    let others: Vec<usize> = (0..PARAMS.len()).filter(|&i| i != fi).collect();
    let mut scope_of: HashMap<Vec<String>, usize> = HashMap::new();
    for c in grid.cells.iter().filter(|c| matches(grid, c.index, filter)) {
        let lv = c.values[fi].to_string();
        let li = match levels.iter().position(|l| *l == lv) {
            Some(x) => x,
            None => {
                levels.push(lv);
                levels.len() - 1
            }
        };
        let key: Vec<String> = others.iter().map(|&i| c.values[i].to_string()).collect();
        let si = *scope_of.entry(key).or_insert_with(|| {
            scopes.push(Vec::new());
            scopes.len() - 1
        });
        scopes[si].push((li, c.index));
    }
    if levels.len() < 2 {
        return usage(format!(
            "`{factor}` has {} level(s) in these runs: a comparison needs at least 2 (is it varied in the grid?)",
            levels.len()
        ));
    }
    let show: Vec<usize> = grid.varied.iter().copied().filter(|&i| i != fi).collect();
    let ok = |c: usize, r: u32| runs.get(c, r).map(|o| set[o as usize]);
    let mut out = Vec::new();
    for a in 0..levels.len() {
        for b in a + 1..levels.len() {
            let mut pooled = [0u64; 4];
            for members in &scopes {
                let (Some(&(_, ca)), Some(&(_, cb))) = (members.iter().find(|m| m.0 == a), members.iter().find(|m| m.0 == b)) else {
                    continue;
                };
                let mut t = [0u64; 4];
                for r in 0..grid.seeds {
                    let (Some(sa), Some(sb)) = (ok(ca, r), ok(cb, r)) else { continue };
                    t[match (sa, sb) {
                        (true, true) => 0,
                        (true, false) => 1,
                        (false, true) => 2,
                        (false, false) => 3,
                    }] += 1;
                }
                for k in 0..4 {
                    pooled[k] += t[k];
                }
                if t.iter().sum::<u64>() > 0 {
                    let desc = grid.cells[ca].describe(&show);
                    out.push(pair_result(
                        if desc.is_empty() { "cell".into() } else { desc },
                        &levels[a],
                        &levels[b],
                        t,
                        outcome,
                    ));
                }
            }
            if pooled.iter().sum::<u64>() > 0 {
                out.push(pair_result("pooled".into(), &levels[a], &levels[b], pooled, outcome));
            }
        }
    }
    // Holm over all tests reported (per cell and pooled).
    let ps: Vec<f64> = out.iter().map(|r| r.p_exact).collect();
    for (r, p) in out.iter_mut().zip(holm(&ps)) {
        r.p_holm = p;
        r.verdict = verdict(r, outcome);
    }
    Ok(out)
}

fn pair_result(scope: String, a: &str, b: &str, t: [u64; 4], _outcome: &str) -> PairResult {
    let [both, only_a, only_b, neither] = t;
    let pairs = both + only_a + only_b + neither;
    let (diff, ci): (f64, Interval) = paired_difference(both, only_a, only_b, neither, CONFIDENCE);
    let m = mcnemar(only_a, only_b);
    PairResult {
        scope,
        level_a: a.into(),
        level_b: b.into(),
        pairs,
        both,
        only_a,
        only_b,
        neither,
        rate_a: (both + only_a) as f64 / pairs as f64,
        rate_b: (both + only_b) as f64 / pairs as f64,
        diff,
        diff_lo: ci.lo,
        diff_hi: ci.hi,
        p_exact: m.exact_p,
        p_holm: f64::NAN,
        verdict: String::new(),
    }
}

fn verdict(r: &PairResult, outcome: &str) -> String {
    let disc = r.only_a + r.only_b;
    let pts = |x: f64| format!("{:+.1} points [{:+.1}, {:+.1}]", 100.0 * x, 100.0 * r.diff_lo, 100.0 * r.diff_hi);
    if r.p_holm < 0.05 {
        let (hi, lo) = if r.diff > 0.0 {
            (&r.level_a, &r.level_b)
        } else {
            (&r.level_b, &r.level_a)
        };
        format!(
            "{hi} is {outcome} more often than {lo}: {} (Holm p = {:.2e})",
            pts(r.diff),
            r.p_holm
        )
    } else if disc == 0 {
        format!("identical on every seed: the factor changes nothing here ({} pairs)", r.pairs)
    } else {
        format!(
            "no detectable difference in how often ({}), but {disc} of {} seeds ({:.1}%) flip: it changes which seeds are {outcome}",
            pts(r.diff),
            r.pairs,
            100.0 * disc as f64 / r.pairs as f64
        )
    }
}

pub fn compare_frame(rows: &[PairResult], factor: &str) -> PolarsResult<DataFrame> {
    let s = |f: fn(&PairResult) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let u = |f: fn(&PairResult) -> u64| rows.iter().map(f).collect::<Vec<_>>();
    let x = |f: fn(&PairResult) -> f64| rows.iter().map(f).collect::<Vec<_>>();
    DataFrame::new(
        rows.len(),
        vec![
            Column::new("factor".into(), vec![factor.to_string(); rows.len()]),
            Column::new("scope".into(), s(|r| r.scope.clone())),
            Column::new("level_a".into(), s(|r| r.level_a.clone())),
            Column::new("level_b".into(), s(|r| r.level_b.clone())),
            Column::new("pairs".into(), u(|r| r.pairs)),
            Column::new("both".into(), u(|r| r.both)),
            Column::new("only_a".into(), u(|r| r.only_a)),
            Column::new("only_b".into(), u(|r| r.only_b)),
            Column::new("neither".into(), u(|r| r.neither)),
            Column::new("rate_a".into(), x(|r| r.rate_a)),
            Column::new("rate_b".into(), x(|r| r.rate_b)),
            Column::new("diff".into(), x(|r| r.diff)),
            Column::new("diff_lo".into(), x(|r| r.diff_lo)),
            Column::new("diff_hi".into(), x(|r| r.diff_hi)),
            Column::new("p_exact".into(), x(|r| r.p_exact)),
            Column::new("p_holm".into(), x(|r| r.p_holm)),
            Column::new("verdict".into(), s(|r| r.verdict.clone())),
        ],
    )
}

pub fn compare(a: &CompareArgs) -> Result<()> {
    let filt = parse_where(&a.filter)?;
    let rows = paired(&a.dir, &a.factor, &filt, &a.outcome)?;
    let mut df = compare_frame(&rows, &a.factor)?;
    let path = a.dir.join(format!("compare_{}.parquet", a.factor));
    crate::sink::write_parquet_atomic(&path, &mut df)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => {
            let mut buf = Vec::new();
            CsvWriter::new(&mut buf).finish(&mut df)?;
            print!("{}", String::from_utf8_lossy(&buf));
        }
        Format::Table | Format::Markdown => {
            let header: Vec<String> = [
                "scope",
                "A",
                "B",
                "pairs",
                "both",
                "only A",
                "only B",
                "neither",
                "A−B (95% CI)",
                "McNemar p",
                "Holm p",
            ]
            .map(String::from)
            .to_vec();
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.scope.clone(),
                        r.level_a.clone(),
                        r.level_b.clone(),
                        r.pairs.to_string(),
                        r.both.to_string(),
                        r.only_a.to_string(),
                        r.only_b.to_string(),
                        r.neither.to_string(),
                        format!("{:+.1} [{:+.1}, {:+.1}]", 100.0 * r.diff, 100.0 * r.diff_lo, 100.0 * r.diff_hi),
                        format!("{:.3}", r.p_exact),
                        format!("{:.3}", r.p_holm),
                    ]
                })
                .collect();
            print!("{}", render_table(&header, &body, a.format == Format::Markdown));
            println!("\n{} (pooled over matching cells), outcome `{}`:", a.factor, a.outcome);
            for r in rows.iter().filter(|r| r.scope == "pooled") {
                println!("  {} vs {}: {}", r.level_a, r.level_b, r.verdict);
            }
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
