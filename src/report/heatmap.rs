//! Convergence-rate heatmaps (rows × columns, one panel per facet), written as plain SVG so that
//! every cell can carry a `<title>` tooltip with its counts and Wilson interval.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::charts::{clip, text_width};
use super::{CellRow, ReportInput, esc, fmt_rate, order_levels, param};
use crate::analysis::clustered::{ClusteredRate, SeedCount, clustered_rate};
use crate::analysis::stats::CONFIDENCE;

/// One heatmap panel: counts pooled over every factor that is not a row, column or facet.
pub(super) struct Facet {
    pub title: String,
    pub row_name: String,
    pub col_name: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// Row-major (converged, n) per cell.
    pub counts: Vec<(u64, u64)>,
    /// Row-major rate with its 95 % interval: plain Wilson for one grid cell, seed-clustered
    /// (design-effect Wilson) when the entry pools several cells that share seeds.
    pub rates: Vec<ClusteredRate>,
    /// Row-major number of grid cells pooled into each entry.
    pub pooled: Vec<usize>,
}

/// How the cells were split into panels, for the explanatory sentence.
pub(super) struct Layout {
    pub row: Option<String>,
    pub col: Option<String>,
    pub facets: Vec<String>,
    pub pooled: Vec<String>,
}

/// Cap on the number of panels drawn (the rest are summarised in the page).
pub(super) const MAX_FACETS: usize = 24;

fn choose(input: &ReportInput) -> Layout {
    let varied: Vec<&str> = input.varied.iter().map(String::as_str).collect();
    let has = |f: &str| varied.contains(&f);
    let row = if has("layout") {
        Some("layout")
    } else {
        varied.iter().copied().find(|f| *f != "lr")
    };
    let col = if has("lr") {
        Some("lr")
    } else {
        varied.iter().copied().find(|f| Some(*f) != row)
    };
    let facets: Vec<String> = ["init_dist", "batch_norm"]
        .into_iter()
        .filter(|f| has(f) && Some(*f) != row && Some(*f) != col)
        .map(String::from)
        .collect();
    let pooled = varied
        .iter()
        .filter(|f| Some(**f) != row && Some(**f) != col && !facets.iter().any(|x| x == *f))
        .map(|f| f.to_string())
        .collect();
    Layout {
        row: row.map(String::from),
        col: col.map(String::from),
        facets,
        pooled,
    }
}

/// The value a cell has on an axis: the factor's value, or (for a missing axis) the constant
/// value of `fallback` if the cells carry it, else "all".
fn axis_value(c: &CellRow, factor: Option<&str>, fallback: &str) -> String {
    match factor {
        Some(f) => param(c, f).unwrap_or("(unset)").to_string(),
        None => param(c, fallback).unwrap_or("all").to_string(),
    }
}

/// Split the cells into panels. Returns the layout and at most [`MAX_FACETS`] panels plus the
/// total number of panels.
pub(super) fn facets(input: &ReportInput) -> (Layout, Vec<Facet>, usize) {
    let lay = choose(input);
    let (row, col) = (lay.row.as_deref(), lay.col.as_deref());
    let levels = |f: &dyn Fn(&CellRow) -> String| order_levels(input.cells.iter().map(f));
    let rows = levels(&|c| axis_value(c, row, "layout"));
    let cols = levels(&|c| axis_value(c, col, "lr"));
    let facet_levels: Vec<Vec<String>> = lay
        .facets
        .iter()
        .map(|f| levels(&|c| param(c, f).unwrap_or("(unset)").to_string()))
        .collect();
    let name_of = |f: Option<&str>, fallback: &str| match f {
        Some(f) => f.to_string(),
        None if input.cells.iter().any(|c| param(c, fallback).is_some()) => fallback.to_string(),
        None => String::new(),
    };
    let row_name = name_of(row, "layout");
    let col_name = name_of(col, "lr");

    let index = |v: &[String]| -> HashMap<String, usize> { v.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect() };
    let (ri, ci) = (index(&rows), index(&cols));
    let fi: Vec<HashMap<String, usize>> = facet_levels.iter().map(|v| index(v)).collect();
    // facet key = mixed-radix index over facet levels
    let nfacets: usize = facet_levels.iter().map(Vec::len).product();
    let mut grid = vec![vec![(0u64, 0u64); rows.len() * cols.len()]; nfacets];
    let seeds = input.cells.iter().map(|c| c.converged_by_seed.len()).max().unwrap_or(0);
    let mut per_seed = vec![vec![vec![SeedCount::default(); seeds]; rows.len() * cols.len()]; nfacets];
    let mut pooled = vec![vec![0usize; rows.len() * cols.len()]; nfacets];
    let mut present = vec![false; nfacets];
    for c in &input.cells {
        let mut key = 0;
        for (f, idx) in lay.facets.iter().zip(&fi) {
            key = key * idx.len() + idx[param(c, f).unwrap_or("(unset)")];
        }
        let r = ri[&axis_value(c, row, "layout")];
        let k = ci[&axis_value(c, col, "lr")];
        present[key] = true;
        let slot = &mut grid[key][r * cols.len() + k];
        slot.0 += c.counts[0];
        slot.1 += c.n;
        pooled[key][r * cols.len() + k] += 1;
        for (sc, &conv) in per_seed[key][r * cols.len() + k].iter_mut().zip(&c.converged_by_seed) {
            sc.m += 1;
            sc.k += conv as u64;
        }
    }
    let mut out = vec![];
    let mut total = 0;
    for ((key, counts), (per_seed, pooled)) in grid.into_iter().enumerate().zip(per_seed.into_iter().zip(pooled)) {
        if !present[key] {
            continue; // combination absent from the grid
        }
        total += 1;
        if out.len() >= MAX_FACETS {
            continue;
        }
        let mut rest = key;
        let mut parts = vec![];
        for (f, lv) in lay.facets.iter().zip(&facet_levels).rev() {
            parts.push(format!("{f} = {}", lv[rest % lv.len()]));
            rest /= lv.len();
        }
        parts.reverse();
        let title = if parts.is_empty() {
            "all runs".to_string()
        } else {
            parts.join(", ")
        };
        out.push(Facet {
            title,
            row_name: row_name.clone(),
            col_name: col_name.clone(),
            rows: rows.clone(),
            cols: cols.clone(),
            counts,
            rates: per_seed.iter().map(|p| clustered_rate(p, CONFIDENCE)).collect(),
            pooled,
        });
    }
    (lay, out, total)
}

/// Viridis, 11 anchors.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// Viridis colour for `t` in 0..=1.
pub(super) fn viridis(t: f64) -> (u8, u8, u8) {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * 10.0;
    let i = (x.floor() as usize).min(9);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (f64::from(p) + (f64::from(q) - f64::from(p)) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn hex(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Dark or light text, whichever reads on `c`.
fn ink_on(c: (u8, u8, u8)) -> &'static str {
    let l = 0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2);
    if l > 140.0 { "#111" } else { "#fff" }
}

/// One panel as an SVG string.
pub(super) fn svg(f: &Facet) -> String {
    const LABEL_PX: f64 = 13.0;
    let rows: Vec<String> = f.rows.iter().map(|r| clip(r, 24)).collect();
    let cols: Vec<String> = f.cols.iter().map(|c| clip(c, 22)).collect();
    let cw = cols.iter().map(|c| text_width(c, LABEL_PX) + 16.0).fold(66.0, f64::max).round();
    let ch = 34.0;
    let left = (rows
        .iter()
        .chain(std::iter::once(&f.row_name))
        .map(|r| text_width(r, LABEL_PX))
        .fold(20.0, f64::max)
        + 22.0)
        .round();
    let top = 72.0;
    let gw = cw * cols.len() as f64;
    let gh = ch * rows.len() as f64;
    let bar_w = gw.clamp(160.0, 260.0);
    let bar_y = top + gh + 18.0;
    let title_w = text_width(&f.title, 14.5) + 20.0;
    let width = (left + gw + 14.0).max(left + bar_w + 130.0).max(title_w).round();
    let height = (bar_y + 40.0).round();
    // Centre the title over the grid, but keep it inside the picture.
    let title_x = (left + gw / 2.0).clamp(title_w / 2.0, (width - title_w / 2.0).max(title_w / 2.0));

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="heatmap" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" role="img" aria-label="{aria}">"#,
        aria = esc(&format!("convergence rate heatmap, {}", f.title))
    );
    let _ = write!(
        s,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="{title_x}" y="20" text-anchor="middle" font-size="14.5" font-weight="bold" fill="#222">{t}</text>"##,
        t = esc(&f.title)
    );
    if !f.col_name.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="{y}" text-anchor="middle" font-size="13" font-weight="600" fill="#555">{t} →</text>"##,
            x = left + gw / 2.0,
            y = top - 30.0,
            t = esc(&f.col_name)
        );
    }
    if !f.row_name.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="{y}" text-anchor="end" font-size="13" font-weight="600" fill="#555">{t} ↓</text>"##,
            x = left - 10.0,
            y = top - 9.0,
            t = esc(&f.row_name)
        );
    }
    for (j, c) in cols.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="{y}" text-anchor="middle" font-size="{LABEL_PX}" fill="#222"><title>{full}</title>{t}</text>"##,
            x = left + cw * (j as f64 + 0.5),
            y = top - 9.0,
            full = esc(&f.cols[j]),
            t = esc(c)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="{y}" text-anchor="end" dominant-baseline="central" font-size="{LABEL_PX}" fill="#222"><title>{full}</title>{t}</text>"##,
            x = left - 10.0,
            y = top + ch * (i as f64 + 0.5),
            full = esc(&f.rows[i]),
            t = esc(r)
        );
    }
    for (i, r) in f.rows.iter().enumerate() {
        for (j, c) in f.cols.iter().enumerate() {
            let at = i * f.cols.len() + j;
            let (k, n) = f.counts.get(at).copied().unwrap_or((0, 0));
            let (x, y) = (left + cw * j as f64, top + ch * i as f64);
            let mut tip = String::new();
            if !f.row_name.is_empty() {
                let _ = write!(tip, "{} = {r}", f.row_name);
            }
            if !f.col_name.is_empty() {
                let _ = write!(tip, "{}{} = {c}", if tip.is_empty() { "" } else { ", " }, f.col_name);
            }
            if !f.title.is_empty() && f.title != "all runs" {
                let _ = write!(tip, " ({})", f.title);
            }
            let (fill, text, fg) = if n == 0 {
                tip.push_str("\nno runs");
                ("#eeeeee".to_string(), "—".to_string(), "#777")
            } else {
                let x = &f.rates[at];
                let p = k as f64 / n as f64;
                let _ = write!(
                    tip,
                    "\nconverged {k} of n = {n}: {} [95% CI {}, {}]",
                    fmt_rate(p),
                    fmt_rate(x.lo),
                    fmt_rate(x.hi)
                );
                if f.pooled[at] > 1 {
                    let _ = write!(
                        tip,
                        "\n{} seeds × {} cells: the interval counts seeds, not runs (seed-clustered)",
                        x.seeds, f.pooled[at]
                    );
                }
                let col = viridis(p);
                (hex(col), format!("{p:.2}"), ink_on(col))
            };
            let _ = write!(
                s,
                r##"<g><title>{tip}</title><rect x="{x}" y="{y}" width="{cw}" height="{ch}" fill="{fill}" stroke="#fff" stroke-width="1.5"/><text x="{tx}" y="{ty}" text-anchor="middle" dominant-baseline="central" font-size="13.5" fill="{fg}">{text}</text></g>"##,
                tip = esc(&tip),
                tx = x + cw / 2.0,
                ty = y + ch / 2.0,
            );
        }
    }
    // Colour bar: 40 steps, ticks at quarters.
    let steps = 40;
    for i in 0..steps {
        let t = (f64::from(i) + 0.5) / f64::from(steps);
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" y="{bar_y}" width="{w:.2}" height="10" fill="{c}"/>"#,
            x = left + bar_w * f64::from(i) / f64::from(steps),
            w = bar_w / f64::from(steps) + 0.4,
            c = hex(viridis(t))
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{left}" y="{bar_y}" width="{bar_w}" height="10" fill="none" stroke="#999" stroke-width="0.5"/>"##
    );
    for q in 0..=4 {
        let t = f64::from(q) / 4.0;
        let x = left + bar_w * t;
        let _ = write!(
            s,
            r##"<line x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="#666"/><text x="{x}" y="{ty}" text-anchor="middle" font-size="11" fill="#333">{l}</text>"##,
            y1 = bar_y + 10.0,
            y2 = bar_y + 14.0,
            ty = bar_y + 26.0,
            l = match q {
                0 => "0",
                1 => "0.25",
                2 => "0.5",
                3 => "0.75",
                _ => "1",
            }
        );
    }
    let _ = write!(
        s,
        r##"<text x="{x}" y="{y}" font-size="12" fill="#444">convergence rate</text></svg>"##,
        x = left + bar_w + 10.0,
        y = bar_y + 9.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_endpoints() {
        assert_eq!(viridis(0.0), (68, 1, 84));
        assert_eq!(viridis(1.0), (253, 231, 37));
        assert_eq!(viridis(f64::NAN), (68, 1, 84));
        assert_eq!(ink_on(viridis(0.0)), "#fff");
        assert_eq!(ink_on(viridis(1.0)), "#111");
    }
}
