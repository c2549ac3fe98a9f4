//! Self-contained HTML report: plain data in, one HTML string out.
//!
//! The page has no external resources (no fonts, stylesheets, scripts or images from elsewhere):
//! charts are inline SVG — drawn with plotters' SVG backend, except the heatmaps, which are
//! written by hand so that each cell carries a `<title>` tooltip — and the CSS is inline. The one
//! inline script only opens the collapsed tables before printing; the page works without it.
//!
//! Sections: header (meta, how to read), convergence heatmaps (layout × lr, faceted by init_dist
//! and batch_norm), outcome rates per factor level, time to convergence (cumulative incidence
//! per level of each varied factor, with the budget marked), replayed
//! loss curves, the paired init-order comparison, and the full table of cells.

pub(crate) mod data;

mod charts;
mod heatmap;
#[cfg(test)]
mod sample;

use std::fmt::Write as _;

#[cfg(test)]
use sample::sample_input;

use charts::{LevelRates, clip};

/// One grid cell's aggregated outcome counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellRow {
    /// Every parameter name -> canonical text value, e.g. ("layout", "relu-sigmoid").
    pub params: Vec<(String, String)>,
    pub n: u64,
    /// converged, diverged, dead, stalled
    pub counts: [u64; 4],
    /// (p, lo, hi) Wilson 95% for each outcome, same order as `counts`.
    pub rate: [(f64, f64, f64); 4],
    /// The budget binds: at least 10% of the converged runs converged in the last 10% of
    /// max_epochs, so the convergence rate is still rising there.
    pub binding: bool,
    /// Per replicate (seed) 0..n, whether that run converged: pooled heatmap entries count
    /// seeds as clusters, not cells × seeds.
    pub converged_by_seed: Vec<bool>,
}

/// Marginal rate of an outcome for one level of a factor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EffectRow {
    pub factor: String,
    pub level: String,
    pub outcome: String,
    pub k: u64,
    pub n: u64,
    pub p: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Paired comparison of two levels of a factor on shared seeds (McNemar).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairRow {
    pub factor: String,
    pub level_a: String,
    pub level_b: String,
    pub pairs: u64,
    pub both: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub neither: u64,
    pub diff: f64,
    pub diff_lo: f64,
    pub diff_hi: f64,
    pub p_exact: f64,
    pub p_holm: f64,
    pub verdict: String,
}

/// Cumulative incidence of the outcomes against epochs for one level of a factor, pooled over
/// the other factors (Aalen–Johansen; with one budget, the plain fractions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelIncidence {
    pub level: String,
    /// Runs behind the level.
    pub n: u64,
    /// Distinct epoch budgets (max_epochs) of the level's cells, ascending.
    pub budgets: Vec<u32>,
    /// The convergence rate is still rising at the budget (pooled budget-binding rule).
    pub binding: bool,
    /// Steps of the estimate: epoch, then (estimate, lo, hi) with a Wilson 95% band for
    /// converged, diverged and dead (in that order). Each value holds until the next epoch.
    pub points: Vec<IncidenceStep>,
}

/// One step of an incidence curve: epoch, then (estimate, lo, hi) for converged, diverged, dead.
pub type IncidenceStep = (u32, [(f64, f64, f64); 3]);

/// The incidence curves of every level of one factor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FactorIncidence {
    pub factor: String,
    pub levels: Vec<LevelIncidence>,
}

/// A replayed run's per-epoch loss (entry 0 = before training).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    pub run_id: String,
    pub outcome: String,
    pub losses: Vec<f64>,
}

/// Everything the report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportInput {
    /// Config name.
    pub title: String,
    /// e.g. ("runs", "48000"), ("wall", "35.2 s"), ("initgrid", "0.1.0"), ("git", "abc123").
    pub meta: Vec<(String, String)>,
    /// Names of the parameters that vary in the grid, in config order.
    pub varied: Vec<String>,
    pub cells: Vec<CellRow>,
    pub effects: Vec<EffectRow>,
    /// Per varied factor (or one "all runs" entry when nothing varies): the cumulative
    /// incidence of converged / diverged / dead per level.
    pub incidence: Vec<FactorIncidence>,
    /// Group label (layout) -> a few replayed runs, converged and failed.
    pub curves: Vec<(String, Vec<Curve>)>,
    /// The paired comparison of init_order levels (may be empty).
    pub pairs: Vec<PairRow>,
}

/// Outcome names in the order of `CellRow::counts`.
pub const OUTCOMES: [&str; 4] = ["converged", "diverged", "dead", "stalled"];

type Rgb = (u8, u8, u8);

/// Outcome colours (Okabe–Ito based, colour-blind friendly): bluish green, vermillion, dark
/// grey, amber.
const OUTCOME_RGB: [Rgb; 4] = [(0, 158, 115), (213, 94, 0), (85, 85, 85), (230, 159, 0)];

fn outcome_index(name: &str) -> Option<usize> {
    OUTCOMES.iter().position(|o| o.eq_ignore_ascii_case(name.trim()))
}

fn outcome_color(name: &str) -> Rgb {
    match outcome_index(name) {
        Some(i) => OUTCOME_RGB[i],
        None => (0, 114, 178),
    }
}

/// Escape text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Compact number for axis ticks and labels: "0", "0.25", "120", "1e-8", "3.5e6".
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let e = a.log10().floor();
        let m = v / 10f64.powf(e);
        if (m - m.round()).abs() < 1e-6 {
            return format!("{}e{}", m.round(), e);
        }
        return format!("{m:.1}e{e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// A rate with three decimals, or an em dash.
fn fmt_rate(p: f64) -> String {
    if p.is_finite() { format!("{p:.3}") } else { "—".into() }
}

fn fmt_ci(lo: f64, hi: f64) -> String {
    if lo.is_finite() && hi.is_finite() {
        format!("[{lo:.3}, {hi:.3}]")
    } else {
        String::new()
    }
}

fn fmt_signed(v: f64) -> String {
    if v.is_finite() { format!("{v:+.3}") } else { "—".into() }
}

/// A p-value: three decimals, scientific when small.
fn fmt_p(p: f64) -> String {
    if !p.is_finite() {
        "—".into()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else if p < 1e-300 {
        "< 1e-300".into()
    } else {
        format!("{p:.1e}")
    }
}

fn param<'a>(c: &'a CellRow, name: &str) -> Option<&'a str> {
    c.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Distinct values in first-appearance order; numeric order if every value is a number.
fn order_levels(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    let nums: Option<Vec<f64>> = out.iter().map(|s| s.trim().parse::<f64>().ok().filter(|x| x.is_finite())).collect();
    if let Some(nums) = nums {
        let mut idx: Vec<usize> = (0..out.len()).collect();
        idx.sort_by(|&a, &b| nums[a].total_cmp(&nums[b]));
        out = idx.into_iter().map(|i| out[i].clone()).collect();
    }
    out
}

/// Wilson score interval at 95%: (p, lo, hi); NaN when n = 0.
fn wilson(k: u64, n: u64) -> (f64, f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let z = 1.959_963_984_540_054_f64;
    let nf = n as f64;
    let p = (k.min(n)) as f64 / nf;
    let z2 = z * z;
    let den = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / den;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / den;
    (p, (centre - half).max(0.0), (centre + half).min(1.0))
}

const CSS: &str = r#"
:root{--ink:#222;--muted:#5f6368;--rule:#e3e3e3;--accent:#0b5cad}
*{box-sizing:border-box}
html{background:#fff}
body{margin:0;background:#fff;color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:27px;margin:0 0 2px;line-height:1.25}
h2{font-size:20px;margin:40px 0 6px;padding-bottom:5px;border-bottom:2px solid var(--rule)}
h3{font-size:16px;margin:18px 0 6px}
p{margin:6px 0 10px;max-width:980px}
.sub{color:var(--muted);margin:0 0 14px}
dl.meta{display:flex;flex-wrap:wrap;gap:8px 10px;margin:10px 0 12px}
dl.meta div{border:1px solid var(--rule);border-radius:6px;padding:4px 10px;background:#fafbfc}
dl.meta dt{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
dl.meta dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.fixed{color:var(--muted);font-size:13.5px}
.fixed code{color:var(--ink)}
.howto{background:#f4f7fb;border-left:4px solid var(--accent);padding:10px 14px;border-radius:0 4px 4px 0;max-width:none}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px 0 8px;vertical-align:-1px}
nav{margin:14px 0 0;font-size:14px}
nav a{color:var(--accent);margin-right:16px;text-decoration:none}
nav a:hover{text-decoration:underline}
.grid{display:flex;flex-wrap:wrap;gap:18px 24px;align-items:flex-start}
figure{margin:0;max-width:100%}
figcaption{font-size:12.5px;color:var(--muted);max-width:600px;margin-top:2px}
svg{max-width:100%;height:auto;display:block}
.note{color:#6b4e00;background:#fff8e6;border:1px solid #f0d9a8;padding:8px 12px;border-radius:4px;display:inline-block}
.scroll{overflow-x:auto;max-width:100%}
table.data{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums;margin:6px 0}
table.data th,table.data td{padding:3px 7px;border-bottom:1px solid var(--rule);text-align:left;white-space:nowrap}
table.data th{background:#f3f4f6;font-weight:600}
table.data th.grp{text-align:center;border-bottom:1px solid #cfd3d8}
table.data td.num,table.data th.num{text-align:right}
table.data tbody tr:nth-child(even){background:#fafafa}
td.sig{font-weight:600}
.ci{color:var(--muted)}
details{margin:12px 0}
summary{cursor:pointer;font-weight:600;color:var(--accent)}
footer{margin-top:40px;color:var(--muted);font-size:12.5px;border-top:1px solid var(--rule);padding-top:8px}
@media print{
 main{max-width:none;padding:0}
 nav,summary{display:none}
 h2{break-after:avoid}
 figure,tr,.howto{break-inside:avoid}
 table.data{font-size:9.5px}
 .scroll{overflow:visible}
}
@page{size:A4 landscape;margin:10mm}
"#;

/// The whole report as one self-contained HTML document.
pub fn render(input: &ReportInput) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = if input.title.trim().is_empty() {
        "untitled grid"
    } else {
        input.title.as_str()
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — initgrid report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(title)
    );
    header(&mut h, input, title);
    section_heatmaps(&mut h, input);
    section_effects(&mut h, input);
    section_epochs(&mut h, input);
    section_curves(&mut h, input);
    section_pairs(&mut h, input);
    section_cells(&mut h, input);
    h.push_str(
        "<footer>Generated by initgrid. This file is self-contained: it loads nothing from \
         anywhere and works offline and in print.</footer>\n</main>\n\
         <script>addEventListener('beforeprint',function(){document.querySelectorAll('details')\
         .forEach(function(d){d.open=true})});</script>\n</body>\n</html>\n",
    );
    h
}

fn note(h: &mut String, text: &str) {
    let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(text));
}

fn figure(h: &mut String, chart: Result<String, String>, caption: &str) {
    match chart {
        Ok(svg) => {
            h.push_str("<figure>");
            h.push_str(&svg);
            if !caption.is_empty() {
                let _ = write!(h, "<figcaption>{}</figcaption>", esc(caption));
            }
            h.push_str("</figure>\n");
        }
        Err(e) => note(h, &e),
    }
}

fn outcome_swatches() -> String {
    let mut s = String::new();
    for (i, o) in OUTCOMES.iter().enumerate() {
        let c = OUTCOME_RGB[i];
        let _ = write!(s, "<span class=\"sw\" style=\"background:rgb({},{},{})\"></span>{o}", c.0, c.1, c.2);
    }
    s
}

fn header(h: &mut String, input: &ReportInput, title: &str) {
    let _ = write!(
        h,
        "<header>\n<h1>{}</h1>\n<p class=\"sub\">initgrid report — how often do seeded tiny-network \
         trainings converge, diverge, die or stall?</p>\n",
        esc(title)
    );
    if !input.meta.is_empty() {
        h.push_str("<dl class=\"meta\">");
        for (k, v) in &input.meta {
            let _ = write!(h, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(v));
        }
        h.push_str("</dl>\n");
    }
    // Parameters that do not vary: one value across the grid.
    let mut fixed: Vec<(String, Vec<String>)> = vec![];
    for c in &input.cells {
        for (k, v) in &c.params {
            if input.varied.contains(k) {
                continue;
            }
            match fixed.iter_mut().find(|f| &f.0 == k) {
                Some(f) if !f.1.contains(v) => f.1.push(v.clone()),
                Some(_) => {}
                None => fixed.push((k.clone(), vec![v.clone()])),
            }
        }
    }
    if !fixed.is_empty() {
        h.push_str("<p class=\"fixed\">Fixed: ");
        let parts: Vec<String> = fixed
            .iter()
            .map(|(k, v)| format!("<code>{}</code> = {}", esc(k), esc(&v.join(" | "))))
            .collect();
        h.push_str(&parts.join(" · "));
        h.push_str("</p>\n");
    }
    if !input.varied.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"fixed\">Varied: {}</p>",
            input
                .varied
                .iter()
                .map(|v| format!("<code>{}</code>", esc(v)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        h,
        "<p class=\"howto\"><strong>How to read this.</strong> Every rate is a fraction of seeds: \
         each seed is one independent training run of the same configuration. Whiskers and \
         [brackets] are 95% Wilson score intervals; <em>n</em> is the number of seeds behind a \
         rate (in the heatmaps, hover a cell to see it). Outcomes: {} — converged: loss at most \
         the tolerance and every sample classified correctly; diverged: a non-finite or exploding \
         loss; dead: a ReLU layer inactive on every sample; stalled: none of these when the epoch \
         budget ran out.</p>",
        outcome_swatches()
    );
    h.push_str(
        "<nav><a href=\"#heatmaps\">Heatmaps</a><a href=\"#rates\">Rates by factor</a>\
         <a href=\"#epochs\">Time to convergence</a><a href=\"#curves\">Loss curves</a>\
         <a href=\"#paired\">Paired init order</a><a href=\"#cells\">All cells</a></nav>\n</header>\n",
    );
}

fn section_heatmaps(h: &mut String, input: &ReportInput) {
    let (lay, facets, total) = heatmap::facets(input);
    let names = facets.first().map(|f| (f.row_name.clone(), f.col_name.clone()));
    let heading = match &names {
        Some((r, c)) if !r.is_empty() && !c.is_empty() => format!("Convergence rate: {r} × {c}"),
        Some((r, c)) if !r.is_empty() || !c.is_empty() => format!("Convergence rate by {r}{c}"),
        _ => "Convergence rate".to_string(),
    };
    let _ = writeln!(h, "<section id=\"heatmaps\">\n<h2>{}</h2>", esc(&heading));
    if facets.is_empty() {
        note(h, "No cells: there is nothing to show.");
        h.push_str("</section>\n");
        return;
    }
    let (rname, cname) = names.unwrap_or_default();
    let axis = |varied: &Option<String>, name: &str| match (varied, name) {
        (Some(v), _) => v.clone(),
        (None, "") => "(none)".to_string(),
        (None, n) => format!("{n} (fixed)"),
    };
    let mut what = format!(
        "Each panel shows the share of seeds that converged, rows = {}, columns = {}",
        axis(&lay.row, &rname),
        axis(&lay.col, &cname)
    );
    if !lay.facets.is_empty() {
        let _ = write!(what, "; one panel per {}", lay.facets.join(" × "));
    }
    what.push('.');
    if !lay.pooled.is_empty() {
        let _ = write!(
            what,
            " Pooled over {} (counts summed, rate = converged / n).",
            lay.pooled.join(", ")
        );
    }
    what.push_str(" Hover a cell for its counts and 95% interval.");
    let _ = writeln!(h, "<p>{}</p>\n<div class=\"grid\">", esc(&what));
    for f in &facets {
        let _ = writeln!(h, "<figure>{}</figure>", heatmap::svg(f));
    }
    h.push_str("</div>\n");
    if total > facets.len() {
        note(h, &format!("Only the first {} of {total} panels are drawn.", facets.len()));
    }
    h.push_str("</section>\n");
}

/// Effect rows grouped by factor: (factor, outcome slots, per-level rates), in a stable order.
type FactorRates = (String, Vec<LevelRates>);

fn effect_groups(input: &ReportInput) -> (Vec<(String, Rgb)>, Vec<FactorRates>, bool) {
    let mut effects: Vec<EffectRow> = input.effects.clone();
    let derived = effects.is_empty() && !input.cells.is_empty();
    if derived {
        // Marginals from the cells, for every varied factor.
        for f in &input.varied {
            let levels = order_levels(input.cells.iter().filter_map(|c| param(c, f)).map(String::from));
            for lv in levels {
                let mut k = [0u64; 4];
                let mut n = 0;
                for c in input.cells.iter().filter(|c| param(c, f) == Some(lv.as_str())) {
                    n += c.n;
                    for (a, b) in k.iter_mut().zip(c.counts) {
                        *a += b;
                    }
                }
                for (o, &ko) in OUTCOMES.iter().zip(&k) {
                    let (p, lo, hi) = wilson(ko, n);
                    effects.push(EffectRow {
                        factor: f.clone(),
                        level: lv.clone(),
                        outcome: o.to_string(),
                        k: ko,
                        n,
                        p,
                        lo,
                        hi,
                    });
                }
            }
        }
    }
    // Outcome slots: the canonical four (those present), then unknown names.
    let mut slots: Vec<(String, Rgb)> = OUTCOMES
        .iter()
        .filter(|o| effects.iter().any(|e| outcome_index(&e.outcome) == outcome_index(o)))
        .map(|o| (o.to_string(), outcome_color(o)))
        .collect();
    let extra = [(0, 114, 178), (204, 121, 167), (86, 180, 233), (240, 228, 66)];
    for e in &effects {
        if outcome_index(&e.outcome).is_none() && !slots.iter().any(|s| s.0 == e.outcome) {
            let c = extra[slots.len() % extra.len()];
            slots.push((e.outcome.clone(), c));
        }
    }
    let slot_of = |o: &str| match outcome_index(o) {
        Some(i) => slots.iter().position(|s| s.0 == OUTCOMES[i]),
        None => slots.iter().position(|s| s.0 == o),
    };
    // Factor order: varied order, then first appearance.
    let mut factors: Vec<String> = input
        .varied
        .iter()
        .filter(|f| effects.iter().any(|e| &e.factor == *f))
        .cloned()
        .collect();
    for e in &effects {
        if !factors.contains(&e.factor) {
            factors.push(e.factor.clone());
        }
    }
    let groups = factors
        .into_iter()
        .map(|f| {
            let rows: Vec<&EffectRow> = effects.iter().filter(|e| e.factor == f).collect();
            let levels = order_levels(rows.iter().map(|e| e.level.clone()));
            let lr = levels
                .into_iter()
                .map(|lv| {
                    let mut rates = vec![None; slots.len()];
                    let mut n = None;
                    for e in rows.iter().filter(|e| e.level == lv) {
                        n.get_or_insert(e.n);
                        if let Some(s) = slot_of(&e.outcome) {
                            rates[s] = Some((e.k, e.p, e.lo, e.hi));
                        }
                    }
                    LevelRates {
                        level: lv,
                        n: n.unwrap_or(0),
                        rates,
                    }
                })
                .collect();
            (f, lr)
        })
        .collect();
    (slots, groups, derived)
}

fn section_effects(h: &mut String, input: &ReportInput) {
    h.push_str("<section id=\"rates\">\n<h2>Outcome rates by factor level</h2>\n");
    let (slots, groups, derived) = effect_groups(input);
    if groups.is_empty() {
        note(h, "No factor effects to show.");
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<p>For each factor, the rate of every outcome at each of its levels, pooled over all \
         other factors. Bars are rates, whiskers 95% Wilson intervals.</p>\n",
    );
    if derived {
        h.push_str("<p class=\"fixed\">(Computed from the cells: no effect rows were given.)</p>\n");
    }
    h.push_str("<div class=\"grid\">\n");
    for (f, levels) in &groups {
        figure(h, charts::rate_chart(f, &slots, levels), "");
    }
    h.push_str("</div>\n");
    // Exact numbers: one row per level, k and rate [interval] per outcome.
    h.push_str("<details><summary>Numbers</summary><div class=\"scroll\"><table class=\"data\">");
    let names: Vec<&str> = slots.iter().map(|s| s.0.as_str()).collect();
    outcome_table_head(h, &["factor", "level"], &names);
    for (f, levels) in &groups {
        for lv in levels {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td>",
                esc(f),
                esc(&lv.level),
                lv.n
            );
            for r in &lv.rates {
                match r {
                    Some((k, p, lo, hi)) => {
                        let _ = write!(
                            h,
                            "<td class=\"num\">{k}</td><td>{} <span class=\"ci\">{}</span></td>",
                            fmt_rate(*p),
                            fmt_ci(*lo, *hi)
                        );
                    }
                    None => h.push_str("<td></td><td></td>"),
                }
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</tbody></table></div></details>\n</section>\n");
}

fn section_epochs(h: &mut String, input: &ReportInput) {
    h.push_str("<section id=\"epochs\">\n<h2>Time to convergence</h2>\n");
    let factors: Vec<&FactorIncidence> = input.incidence.iter().filter(|f| !f.levels.is_empty()).collect();
    if factors.is_empty() {
        note(h, "No runs: there are no curves to show.");
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<p>Cumulative incidence: the share of runs that have converged (rising, green) or died \
         (rising, grey) — and diverged (vermillion), where any did — by each epoch, one panel per \
         level of each varied factor, pooled over the other factors. Shaded bands are 95% Wilson \
         intervals. Runs are deterministic prefixes of longer runs, so a curve at epoch t is \
         exactly the rate a grid with max_epochs = t would report. The dashed line marks the \
         epoch budget; past it nothing is known. A panel marked ↑ is <em>still rising at its \
         budget</em> (at least 10% of its converged runs converged in the last 10% of the \
         budget): more epochs would raise its convergence rate. Where the budgets of a level's \
         cells differ, runs leave the estimate at their own budget (Aalen–Johansen with \
         administrative censoring) and the band uses the runs whose budget reaches that epoch.</p>\n",
    );
    for f in factors {
        figure(h, charts::incidence_chart(&f.factor, &f.levels), "");
    }
    h.push_str("</section>\n");
}

fn section_curves(h: &mut String, input: &ReportInput) {
    h.push_str("<section id=\"curves\">\n<h2>Replayed loss curves</h2>\n");
    let groups: Vec<&(String, Vec<Curve>)> = input.curves.iter().filter(|g| !g.1.is_empty()).collect();
    if groups.is_empty() {
        note(h, "No replayed runs.");
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<p>A few runs replayed epoch by epoch, coloured by outcome. Loss is on a log scale; a \
         line that ends in × is a run whose loss became NaN or infinite after that epoch.</p>\n\
         <div class=\"grid\">\n",
    );
    for (g, curves) in groups {
        let ids: Vec<String> = curves.iter().map(|c| format!("{} ({})", clip(&c.run_id, 40), c.outcome)).collect();
        figure(h, charts::loss_chart(g, curves), &format!("Runs: {}", ids.join(", ")));
    }
    h.push_str("</div>\n</section>\n");
}

fn section_pairs(h: &mut String, input: &ReportInput) {
    h.push_str("<section id=\"paired\">\n<h2>Paired comparison of init order</h2>\n");
    if input.pairs.is_empty() {
        note(h, "No paired comparison: init order does not vary in this grid.");
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<p>Levels compared on the same seeds (same data, same random stream, only the order in \
         which weights are drawn differs). <em>both</em> / <em>only A</em> / <em>only B</em> / \
         <em>neither</em> count the seed pairs by which of the two converged; the difference is \
         rate(A) − rate(B) with a 95% interval; p is McNemar's exact test for one cell and, for \
         pooled rows over several cells, the seed-clustered McNemar test (Durkalski et al. 2003: \
         a seed shared by several cells is one independent unit, not several) with a \
         cluster-robust interval; the Holm p corrects for the number of comparisons.</p>\n",
    );
    figure(h, charts::forest(&input.pairs), "");
    h.push_str(
        "<div class=\"scroll\"><table class=\"data\"><thead><tr><th>factor</th><th>A</th><th>B</th>\
         <th class=\"num\">pairs</th><th class=\"num\">both</th><th class=\"num\">only A</th>\
         <th class=\"num\">only B</th><th class=\"num\">neither</th><th class=\"num\">diff</th>\
         <th>95% interval</th><th class=\"num\">p</th><th class=\"num\">Holm p</th>\
         <th>verdict</th></tr></thead><tbody>\n",
    );
    for p in &input.pairs {
        let sig = if p.p_holm < 0.05 { " sig" } else { "" };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"ci\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num{sig}\">{}</td><td>{}</td></tr>",
            esc(&p.factor),
            esc(&p.level_a),
            esc(&p.level_b),
            p.pairs,
            p.both,
            p.only_a,
            p.only_b,
            p.neither,
            fmt_signed(p.diff),
            if p.diff_lo.is_finite() && p.diff_hi.is_finite() {
                format!("[{:+.3}, {:+.3}]", p.diff_lo, p.diff_hi)
            } else {
                String::new()
            },
            fmt_p(p.p_exact),
            fmt_p(p.p_holm),
            esc(&p.verdict)
        );
    }
    h.push_str("</tbody></table></div>\n</section>\n");
}

/// Two-row table head: key columns and n, then "k | rate [95% CI]" under each outcome name.
fn outcome_table_head(h: &mut String, keys: &[&str], outcomes: &[&str]) {
    h.push_str("<thead><tr>");
    for k in keys {
        let _ = write!(h, "<th rowspan=\"2\">{}</th>", esc(k));
    }
    h.push_str("<th rowspan=\"2\" class=\"num\">n</th>");
    for o in outcomes {
        let _ = write!(h, "<th colspan=\"2\" class=\"grp\">{}</th>", esc(o));
    }
    h.push_str("</tr>\n<tr>");
    for _ in outcomes {
        h.push_str("<th class=\"num\">k</th><th>rate [95% CI]</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
}

fn section_cells(h: &mut String, input: &ReportInput) {
    h.push_str("<section id=\"cells\">\n<h2>All cells</h2>\n");
    if input.cells.is_empty() {
        note(h, "No cells.");
        h.push_str("</section>\n");
        return;
    }
    // Columns: the varied parameters, or every parameter if none is marked as varied.
    let cols: Vec<String> = if input.varied.is_empty() {
        let mut v: Vec<String> = vec![];
        for c in &input.cells {
            for (k, _) in &c.params {
                if !v.contains(k) {
                    v.push(k.clone());
                }
            }
        }
        v
    } else {
        input.varied.clone()
    };
    let _ = writeln!(
        h,
        "<details><summary>Show all {} cells (counts, rates and 95% intervals; ↑ = still rising at the \
         epoch budget)</summary>\
         <div class=\"scroll\"><table class=\"data\">",
        input.cells.len()
    );
    let mut keys: Vec<&str> = cols.iter().map(String::as_str).collect();
    keys.push("epoch budget");
    outcome_table_head(h, &keys, &OUTCOMES);
    for c in &input.cells {
        h.push_str("<tr>");
        for k in &cols {
            let _ = write!(h, "<td>{}</td>", esc(param(c, k).unwrap_or("")));
        }
        let _ = write!(
            h,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td>",
            esc(param(c, "max_epochs").unwrap_or("")),
            c.n
        );
        for i in 0..4 {
            let (p, lo, hi) = c.rate[i];
            let mark = if i == 0 && c.binding {
                "<span title=\"still rising at the epoch budget\">↑</span>"
            } else {
                ""
            };
            let _ = write!(
                h,
                "<td class=\"num\">{}</td><td>{}{mark} <span class=\"ci\">{}</span></td>",
                c.counts[i],
                fmt_rate(p),
                fmt_ci(lo, hi)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div></details>\n</section>\n");
}

#[cfg(test)]
mod tests;
