//! Charts drawn with plotters' SVG backend: rate bars, cumulative incidence, loss curves, forest plot.
//!
//! Every function returns `Err(note)` instead of panicking: ranges are sanitised before they reach
//! plotters, and the drawing itself runs under `catch_unwind` as a last line of defence.

use std::error::Error;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Curve, LevelIncidence, PairRow, Rgb, fmt_num, outcome_color};

const FONT: &str = "sans-serif";
// plotters' SVG backend writes `font-size = size / 1.24`; these give ~12.5, 13.5 and 15.5 px.
const TICK: f64 = 15.5;
const DESC: f64 = 16.5;
const CAPTION: f64 = 19.5;
const LEGEND: f64 = 15.5;
const INK: RGBColor = RGBColor(34, 34, 34);

/// Smallest positive value drawn on a log axis; zero and negative losses are clamped to it.
pub(super) const LOG_FLOOR: f64 = 1e-8;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn Error>>;

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Rough width of `s` in pixels at an SVG font size of `px` (no font metrics without `ttf`).
pub(super) fn text_width(s: &str, px: f64) -> f64 {
    s.chars().count() as f64 * px * 0.56
}

/// Shorten a label to at most `max` characters, with an ellipsis.
pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// "1", "10", "10³", "10⁻⁸".
fn pow10(e: i32) -> String {
    match e {
        0 => "1".into(),
        1 => "10".into(),
        _ => {
            let sup: String = e
                .to_string()
                .chars()
                .map(|c| match c {
                    '-' => '⁻',
                    '0' => '⁰',
                    '1' => '¹',
                    '2' => '²',
                    '3' => '³',
                    '4' => '⁴',
                    '5' => '⁵',
                    '6' => '⁶',
                    '7' => '⁷',
                    '8' => '⁸',
                    _ => '⁹',
                })
                .collect();
            format!("10{sup}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Coordinates
// ---------------------------------------------------------------------------------------------

/// A continuous axis, linear or log10, that never has an empty or non-finite range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Scale {
    /// Linear axis over `lo..hi`; degenerate or non-finite input becomes a sensible range.
    pub(super) fn linear(lo: f64, hi: f64) -> Scale {
        let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
            (lo.min(hi), lo.max(hi))
        } else {
            (0.0, 1.0)
        };
        if hi - lo <= 1e-12 * lo.abs().max(1.0) {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            lo -= pad;
            hi += pad;
        }
        Scale { log: false, lo, hi }
    }

    /// Log axis covering `lo..hi`, widened to whole decades (so there are always >= 2 ticks).
    pub(super) fn log(lo: f64, hi: f64) -> Scale {
        let clean = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v.clamp(1e-300, 1e300)
            } else {
                LOG_FLOOR
            }
        };
        let (a, b) = (clean(lo), clean(hi));
        let (a, b) = (a.min(b), a.max(b));
        let la = a.log10().floor();
        let mut lb = b.log10().ceil();
        if lb <= la {
            lb = la + 1.0;
        }
        Scale {
            log: true,
            lo: 10f64.powf(la),
            hi: 10f64.powf(lb),
        }
    }

    /// Tick label: powers of ten as 10ⁿ on log axes spanning five decades or more.
    pub(super) fn label(&self, v: f64) -> String {
        if self.log && self.hi / self.lo >= 0.99e5 && v > 0.0 {
            let e = v.log10();
            if (e - e.round()).abs() < 1e-9 {
                return pow10(e.round() as i32);
            }
        }
        fmt_num(v)
    }

    fn t(&self, v: f64) -> f64 {
        if self.log {
            v.clamp(self.lo * 1e-3, self.hi * 1e3).log10()
        } else {
            v
        }
    }

    fn linear_ticks(&self, max: usize) -> Vec<f64> {
        if max == 0 {
            return vec![];
        }
        let raw = (self.hi - self.lo) / max as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let f = raw / mag;
        let step = mag
            * if f <= 1.0 {
                1.0
            } else if f <= 2.0 {
                2.0
            } else if f <= 5.0 {
                5.0
            } else {
                10.0
            };
        if !(step.is_finite() && step > 0.0) {
            return vec![self.lo, self.hi];
        }
        let mut out = vec![];
        let mut i = (self.lo / step - 1e-9).ceil();
        while i * step <= self.hi + step * 1e-9 && out.len() <= max + 1 {
            let v = i * step;
            out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
            i += 1.0;
        }
        out
    }

    fn log_ticks(&self, max: usize, light: bool) -> Vec<f64> {
        let (a, b) = (self.lo.log10().round() as i32, self.hi.log10().round() as i32);
        let decades = (b - a).max(1) as usize;
        let stride = decades.div_ceil(max.max(1)).max(1);
        let mut out = vec![];
        for e in (a..=b).step_by(stride) {
            let base = 10f64.powi(e);
            out.push(base);
            if light && stride == 1 && decades * 9 <= max && e < b {
                out.extend((2..10).map(|m| base * m as f64));
            }
        }
        out
    }
}

impl Ranged for Scale {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (t0, t1) = (self.t(self.lo), self.t(self.hi));
        let f = ((self.t(*value) - t0) / (t1 - t0)).clamp(-1.0, 2.0);
        let f = if f.is_finite() { f } else { 0.0 };
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points();
        if self.log {
            self.log_ticks(max, hint.weight().allow_light_points())
        } else {
            self.linear_ticks(max)
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Scale {
    fn format(value: &f64) -> String {
        fmt_num(*value)
    }
}

/// Categorical axis: value `i` is the centre of band `i`; band 0 is at the top (use as y).
#[derive(Clone, Copy, Debug)]
pub(super) struct Bands {
    n: usize,
}

impl Ranged for Bands {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = ((value + 0.5) / self.n.max(1) as f64).clamp(-1.0, 2.0);
        let f = if f.is_finite() { f } else { 0.0 };
        // For y, `limit` is (bottom, top): walk down from the top.
        limit.1 + (f * f64::from(limit.0 - limit.1)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            vec![]
        } else {
            (0..self.n).map(|i| i as f64).collect()
        }
    }

    fn range(&self) -> Range<f64> {
        -0.5..(self.n.max(1) as f64 - 0.5)
    }
}

impl ValueFormatter<f64> for Bands {
    fn format(value: &f64) -> String {
        fmt_num(*value)
    }
}

// ---------------------------------------------------------------------------------------------
// Frame: SVG buffer, caption, legend
// ---------------------------------------------------------------------------------------------

/// Draw into a fresh `w`×`h` SVG string. Errors and panics become `Err(message)`.
fn render_svg(w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<String, String> {
    let mut buf = String::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> DrawResult {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    }));
    match outcome {
        Ok(Ok(())) => Ok(buf),
        Ok(Err(e)) => Err(format!("chart could not be drawn: {e}")),
        Err(_) => Err("chart could not be drawn (internal plotting error)".into()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Mark {
    Swatch,
    Line,
    Cross,
    Dot,
    Ring,
}

#[derive(Clone, Debug)]
pub(super) struct LegendItem {
    pub label: String,
    pub color: Rgb,
    pub mark: Mark,
}

impl LegendItem {
    pub(super) fn new(label: impl Into<String>, color: Rgb, mark: Mark) -> Self {
        LegendItem {
            label: label.into(),
            color,
            mark,
        }
    }
}

const LEGEND_ROW: u32 = 22;
const CAPTION_H: u32 = 34;

/// Rows of legend items (indices) that fit in `width`, each row's pixel width.
fn legend_rows(items: &[LegendItem], width: u32) -> Vec<(Vec<usize>, f64)> {
    let px = LEGEND / 1.24;
    let avail = f64::from(width) - 24.0;
    let mut rows: Vec<(Vec<usize>, f64)> = vec![];
    for (i, it) in items.iter().enumerate() {
        let w = 22.0 + text_width(&it.label, px) + 22.0;
        match rows.last_mut() {
            Some((row, rw)) if *rw + w <= avail => {
                row.push(i);
                *rw += w;
            }
            _ => rows.push((vec![i], w)),
        }
    }
    rows
}

fn legend_height(items: &[LegendItem], width: u32) -> u32 {
    if items.is_empty() {
        0
    } else {
        legend_rows(items, width).len() as u32 * LEGEND_ROW + 6
    }
}

fn draw_mark(area: &Area<'_>, mark: Mark, color: RGBColor, x: i32, y: i32) -> DrawResult {
    match mark {
        Mark::Swatch => area.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.85).filled()))?,
        Mark::Line => area.draw(&PathElement::new(vec![(x - 2, y), (x + 16, y)], color.stroke_width(3)))?,
        Mark::Cross => area.draw(&Cross::new((x + 7, y), 5, color.stroke_width(2)))?,
        Mark::Dot => area.draw(&Circle::new((x + 7, y), 5, color.filled()))?,
        Mark::Ring => area.draw(&Circle::new((x + 7, y), 5, color.stroke_width(2)))?,
    }
    Ok(())
}

/// Caption at the top, legend rows under it; returns the remaining plotting area.
fn frame<'a>(root: &Area<'a>, caption: &str, legend: &[LegendItem]) -> Result<Area<'a>, Box<dyn Error>> {
    let (w, _) = root.dim_in_pixel();
    let (cap, body) = root.split_vertically(CAPTION_H);
    let cap_style = (FONT, CAPTION)
        .into_font()
        .style(FontStyle::Bold)
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    cap.draw_text(&clip(caption, 90), &cap_style, (w as i32 / 2, CAPTION_H as i32 / 2 + 2))?;
    if legend.is_empty() {
        return Ok(body);
    }
    let lh = legend_height(legend, w);
    let (top, rest) = body.split_vertically(lh);
    let text = (FONT, LEGEND).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (r, (row, rw)) in legend_rows(legend, w).iter().enumerate() {
        let mut x = ((f64::from(w) - rw) / 2.0).max(8.0) as i32;
        let y = (r as u32 * LEGEND_ROW + LEGEND_ROW / 2 + 2) as i32;
        for &i in row {
            let it = &legend[i];
            draw_mark(&top, it.mark, rgb(it.color), x, y)?;
            top.draw_text(&it.label, &text, (x + 22, y))?;
            x += (22.0 + text_width(&it.label, LEGEND / 1.24) + 22.0) as i32;
        }
    }
    Ok(rest)
}

fn mesh_style() -> (RGBAColor, RGBAColor) {
    (RGBColor(0, 0, 0).mix(0.13), RGBColor(0, 0, 0).mix(0.05))
}

// ---------------------------------------------------------------------------------------------
// 3. Outcome rates per factor level
// ---------------------------------------------------------------------------------------------

/// Rates of each outcome slot for one level of a factor; `None` where there is no estimate.
pub(super) struct LevelRates {
    pub level: String,
    /// Seeds behind the level (from its first effect row).
    pub n: u64,
    /// Per outcome slot: (k, p, lo, hi).
    pub rates: Vec<Option<(u64, f64, f64, f64)>>,
}

/// Horizontal grouped bars (one per outcome) with Wilson whiskers, one band per level.
pub(super) fn rate_chart(factor: &str, outcomes: &[(String, Rgb)], levels: &[LevelRates]) -> Result<String, String> {
    if levels.is_empty() || outcomes.is_empty() {
        return Err("no levels to plot".into());
    }
    let m = outcomes.len();
    let w: u32 = 620;
    let legend: Vec<LegendItem> = outcomes
        .iter()
        .map(|(name, c)| LegendItem::new(name.clone(), *c, Mark::Swatch))
        .collect();
    let band_px = (m as u32 * 15 + 20).max(44);
    let plot_h = levels.len() as u32 * band_px + 62;
    let h = CAPTION_H + legend_height(&legend, w) + plot_h;
    let labels: Vec<String> = levels.iter().map(|l| clip(&l.level, 26)).collect();
    let label_w = labels.iter().map(|l| text_width(l, TICK / 1.24)).fold(30.0, f64::max).min(230.0) as u32;

    render_svg(w, h, |root| {
        let area = frame(root, &format!("{factor}: outcome rates by level"), &legend)?;
        let mut chart = ChartBuilder::on(&area)
            .margin_left(6)
            .margin_right(22)
            .margin_top(4)
            .margin_bottom(6)
            .x_label_area_size(48)
            .y_label_area_size(label_w + 34)
            .build_cartesian_2d(Scale::linear(0.0, 1.0), Bands { n: levels.len() })?;
        let (bold, light) = mesh_style();
        let ylab = |v: &f64| {
            let i = v.round();
            if i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(6)
            .x_max_light_lines(2)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&ylab)
            .x_desc("fraction of seeds (whiskers: 95% Wilson interval)")
            .y_desc(factor)
            .label_style((FONT, TICK).into_font().color(&INK))
            .axis_desc_style((FONT, DESC).into_font().color(&INK))
            .bold_line_style(bold)
            .light_line_style(light)
            .draw()?;

        let slot = 0.82 / m as f64;
        let half = slot * 0.40;
        let small = (FONT, 13.5).into_font().color(&RGBColor(70, 70, 70));
        let inside = (FONT, 13.5).into_font().style(FontStyle::Bold).color(&WHITE);
        for (i, lv) in levels.iter().enumerate() {
            // faint separator between bands
            if i > 0 {
                let y = i as f64 - 0.5;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, y), (1.0, y)],
                    RGBColor(0, 0, 0).mix(0.08).stroke_width(1),
                )))?;
            }
            for (j, rate) in lv.rates.iter().enumerate().take(m) {
                let Some((_, p, lo, hi)) = *rate else {
                    continue;
                };
                if !p.is_finite() {
                    continue;
                }
                let y = i as f64 + (j as f64 - (m as f64 - 1.0) / 2.0) * slot;
                let c = rgb(outcomes[j].1);
                let p = p.clamp(0.0, 1.0);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - half), (p, y + half)],
                    c.mix(0.85).filled(),
                )))?;
                let (lo, hi) = if lo.is_finite() && hi.is_finite() {
                    (lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0))
                } else {
                    (p, p)
                };
                let wk = INK.stroke_width(1);
                let cap = half * 0.75;
                chart.draw_series([
                    PathElement::new(vec![(lo, y), (hi, y)], wk),
                    PathElement::new(vec![(lo, y - cap), (lo, y + cap)], wk),
                    PathElement::new(vec![(hi, y - cap), (hi, y + cap)], wk),
                ])?;
                let txt = format!("{p:.2}");
                if hi < 0.88 {
                    chart.draw_series(std::iter::once(Text::new(
                        txt,
                        (hi + 0.012, y),
                        small.clone().pos(Pos::new(HPos::Left, VPos::Center)),
                    )))?;
                } else if lo > 0.12 {
                    // No room on the right: write it inside the bar, in white.
                    chart.draw_series(std::iter::once(Text::new(
                        txt,
                        (lo - 0.012, y),
                        inside.clone().pos(Pos::new(HPos::Right, VPos::Center)),
                    )))?;
                }
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// 4. Time to convergence: cumulative incidence per level
// ---------------------------------------------------------------------------------------------

/// Most panels drawn per factor.
pub(super) const MAX_PANELS: usize = 12;

/// A step function through `pts` (epoch, value) up to `end`: horizontal, then vertical.
fn steps(pts: &[(f64, f64)], end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(pts.len() * 2 + 1);
    for (i, &(x, y)) in pts.iter().enumerate() {
        if i > 0 {
            out.push((x, pts[i - 1].1));
        }
        out.push((x, y));
    }
    if let Some(&(x, y)) = pts.last()
        && end > x
    {
        out.push((end, y));
    }
    out
}

/// One panel per level (up to [`MAX_PANELS`]): converged, dead and (if any) diverged cumulative
/// incidence against epochs as steps with Wilson bands, and each budget as a dashed line.
pub(super) fn incidence_chart(factor: &str, levels: &[LevelIncidence]) -> Result<String, String> {
    let levels: Vec<&LevelIncidence> = levels.iter().filter(|l| !l.points.is_empty()).take(MAX_PANELS).collect();
    if levels.is_empty() {
        return Err(format!("{factor}: no runs to draw"));
    }
    let xmax = levels
        .iter()
        .flat_map(|l| l.budgets.iter().copied().chain(l.points.iter().map(|p| p.0)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // Outcomes drawn: converged and dead always, diverged where any run diverged.
    let any_div = levels.iter().any(|l| l.points.iter().any(|p| p.1[1].0 > 0.0));
    let slots: Vec<(usize, &str)> = if any_div {
        vec![(0, "converged"), (2, "dead"), (1, "diverged")]
    } else {
        vec![(0, "converged"), (2, "dead")]
    };
    let mut legend: Vec<LegendItem> = slots
        .iter()
        .map(|(_, o)| LegendItem::new(format!("{o} by epoch"), outcome_color(o), Mark::Line))
        .collect();
    legend.push(LegendItem::new("95% band", (150, 150, 150), Mark::Swatch));
    legend.push(LegendItem::new("epoch budget", (90, 90, 90), Mark::Line));
    let cols = levels.len().min(3);
    let rows = levels.len().div_ceil(cols);
    let w: u32 = 1000;
    let panel_h: u32 = 300;
    let h = CAPTION_H + legend_height(&legend, w) + rows as u32 * panel_h;
    let xs = Scale::linear(0.0, xmax);
    let ys = Scale::linear(0.0, 1.0);
    render_svg(w, h, |root| {
        let area = frame(root, &format!("{factor}: share of runs decided by each epoch"), &legend)?;
        let panels = area.split_evenly((rows, cols));
        for (l, panel) in levels.iter().zip(panels.iter()) {
            let last = l.points.last().expect("non-empty");
            let conv = last.1[0].0;
            let mark = if l.binding { " ↑" } else { "" };
            let rate = if conv.is_finite() {
                format!("{:.1}%", 100.0 * conv)
            } else {
                "—".into()
            };
            let caption = format!("{} (n={}): {rate}{mark} converged", clip(&l.level, 24), l.n);
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, (FONT, TICK).into_font().color(&INK))
                .margin_left(4)
                .margin_right(18)
                .margin_top(4)
                .margin_bottom(4)
                .x_label_area_size(40)
                .y_label_area_size(52)
                .build_cartesian_2d(xs, ys)?;
            let (bold, light) = mesh_style();
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(6)
                .x_max_light_lines(1)
                .y_max_light_lines(1)
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| format!("{}%", fmt_num(v * 100.0)))
                .x_desc("epoch")
                .label_style((FONT, TICK * 0.9).into_font().color(&INK))
                .axis_desc_style((FONT, TICK).into_font().color(&INK))
                .bold_line_style(bold)
                .light_line_style(light)
                .draw()?;
            let end = l.budgets.last().copied().map_or(last.0, |b| b.max(last.0)) as f64;
            for &(k, o) in &slots {
                let c = rgb(outcome_color(o));
                let get = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
                    l.points.iter().map(|p| (f64::from(p.0), f(&p.1[k]).clamp(0.0, 1.0))).collect()
                };
                let (mid, lo, hi) = (get(|x| x.0), get(|x| x.1), get(|x| x.2));
                let (lo, hi) = (steps(&lo, end), steps(&hi, end));
                let mut band = hi.clone();
                band.extend(lo.iter().rev().copied());
                chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.16).filled())))?;
                chart.draw_series(std::iter::once(PathElement::new(steps(&mid, end), c.stroke_width(2))))?;
            }
            let small = (FONT, TICK * 0.85)
                .into_font()
                .color(&RGBColor(70, 70, 70))
                .pos(Pos::new(HPos::Right, VPos::Top));
            for &b in &l.budgets {
                let x = f64::from(b);
                chart.draw_series(DashedLineSeries::new(
                    vec![(x, 0.0), (x, 1.0)],
                    5,
                    4,
                    RGBColor(90, 90, 90).stroke_width(1),
                ))?;
                chart.draw_series(std::iter::once(Text::new(format!("budget {b} "), (x, 0.99), small.clone())))?;
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// 5. Replayed loss curves
// ---------------------------------------------------------------------------------------------

/// Finite prefix of a loss curve clamped to the log floor, plus whether it ended non-finite.
pub(super) fn finite_prefix(losses: &[f64]) -> (Vec<(f64, f64)>, bool) {
    let cut = losses.iter().position(|v| !v.is_finite());
    let end = cut.unwrap_or(losses.len());
    let pts = losses[..end]
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v.max(LOG_FLOOR)))
        .collect();
    (pts, cut.is_some())
}

/// Keep at most ~`max` points (always the first and last).
fn thin(pts: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max {
        return pts;
    }
    let step = pts.len().div_ceil(max);
    let last = *pts.last().expect("non-empty");
    let mut out: Vec<(f64, f64)> = pts.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// A curve ready to draw: finite points, whether it ended non-finite, its colour.
type Prepared = (Vec<(f64, f64)>, bool, Rgb);

/// Loss (log y) against epoch for one group's replayed runs, coloured by outcome.
pub(super) fn loss_chart(group: &str, curves: &[Curve]) -> Result<String, String> {
    let prepared: Vec<Prepared> = curves
        .iter()
        .map(|c| {
            let (p, cut) = finite_prefix(&c.losses);
            (thin(p, 600), cut, outcome_color(&c.outcome))
        })
        .collect();
    let (mut ylo, mut yhi) = (f64::INFINITY, 0.0f64);
    let mut xmax = 1.0f64;
    for (p, _, _) in &prepared {
        for &(x, y) in p {
            ylo = ylo.min(y);
            yhi = yhi.max(y);
            xmax = xmax.max(x);
        }
    }
    for c in curves {
        xmax = xmax.max(c.losses.len().saturating_sub(1) as f64);
    }
    if prepared.iter().all(|p| p.0.is_empty()) {
        return Err("no finite loss values to plot".into());
    }
    // Legend: one entry per outcome present, in canonical order first.
    let mut outcomes: Vec<(String, usize)> = vec![];
    for c in curves {
        match outcomes.iter_mut().find(|o| o.0 == c.outcome) {
            Some(o) => o.1 += 1,
            None => outcomes.push((c.outcome.clone(), 1)),
        }
    }
    outcomes.sort_by_key(|o| super::outcome_index(&o.0).unwrap_or(usize::MAX));
    let mut legend: Vec<LegendItem> = outcomes
        .iter()
        .map(|(o, k)| LegendItem::new(format!("{o} ({k})"), outcome_color(o), Mark::Line))
        .collect();
    let any_cut = prepared.iter().any(|p| p.1 && !p.0.is_empty());
    if any_cut {
        legend.push(LegendItem::new("last finite loss, then NaN/∞", (34, 34, 34), Mark::Cross));
    }
    let clamped = curves.iter().any(|c| c.losses.iter().any(|&v| v.is_finite() && v < LOG_FLOOR));
    let w = 600;
    let h = CAPTION_H + legend_height(&legend, w) + 340;
    let ys = Scale::log(ylo, yhi * 3.0); // headroom for the × markers
    let xs = Scale::linear(0.0, xmax);
    render_svg(w, h, |root| {
        let area = frame(root, &format!("Loss curves — {group}"), &legend)?;
        let mut chart = ChartBuilder::on(&area)
            .margin_left(6)
            .margin_right(22)
            .margin_top(6)
            .margin_bottom(6)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(xs, ys)?;
        let (bold, light) = mesh_style();
        let ydesc = if clamped {
            "loss (log scale; ≤ 10⁻⁸ drawn at 10⁻⁸)"
        } else {
            "loss (log scale)"
        };
        chart
            .configure_mesh()
            .x_labels(7)
            .y_labels(8)
            .x_max_light_lines(2)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| ys.label(*v))
            .x_desc("epoch")
            .y_desc(ydesc)
            .label_style((FONT, TICK).into_font().color(&INK))
            .axis_desc_style((FONT, DESC).into_font().color(&INK))
            .bold_line_style(bold)
            .light_line_style(light)
            .draw()?;
        for (pts, cut, c) in &prepared {
            let c = rgb(*c);
            if pts.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(pts[0], 3, c.filled())))?;
            } else if !pts.is_empty() {
                chart.draw_series(LineSeries::new(pts.iter().copied(), c.mix(0.85).stroke_width(2)))?;
            }
            match pts.last() {
                Some(&last) if *cut => {
                    chart.draw_series(std::iter::once(Cross::new(last, 6, INK.stroke_width(2))))?;
                }
                _ => {}
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// 6. Forest plot of paired differences
// ---------------------------------------------------------------------------------------------

/// One row per pair: difference with its interval, filled dot when Holm p < 0.05, zero line.
pub(super) fn forest(pairs: &[PairRow]) -> Result<String, String> {
    if pairs.is_empty() {
        return Err("no pairs".into());
    }
    let multi_factor = pairs.iter().any(|p| p.factor != pairs[0].factor);
    let labels: Vec<String> = pairs
        .iter()
        .map(|p| {
            let s = format!("{} vs {}", p.level_a, p.level_b);
            clip(&if multi_factor { format!("{}: {s}", p.factor) } else { s }, 40)
        })
        .collect();
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for p in pairs {
        for v in [p.diff, p.diff_lo, p.diff_hi] {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    let pad = ((hi - lo) * 0.08).max(0.005);
    let xs = Scale::linear(lo - pad, hi + pad);
    let blue: Rgb = (0, 90, 160);
    let legend = vec![
        LegendItem::new("Holm-adjusted p < 0.05", blue, Mark::Dot),
        LegendItem::new("not significant", blue, Mark::Ring),
    ];
    let w = 820;
    let h = CAPTION_H + legend_height(&legend, w) + pairs.len() as u32 * 36 + 70;
    let label_w = labels.iter().map(|l| text_width(l, TICK / 1.24)).fold(30.0, f64::max).min(300.0) as u32;
    let factor = if multi_factor {
        "factor levels".to_string()
    } else {
        pairs[0].factor.clone()
    };
    render_svg(w, h, |root| {
        let area = frame(root, &format!("Paired differences in convergence rate ({factor})"), &legend)?;
        let mut chart = ChartBuilder::on(&area)
            .margin_left(6)
            .margin_right(24)
            .margin_top(4)
            .margin_bottom(6)
            .x_label_area_size(48)
            .y_label_area_size(label_w + 18)
            .build_cartesian_2d(xs, Bands { n: pairs.len() })?;
        let (bold, light) = mesh_style();
        let ylab = |v: &f64| {
            let i = v.round();
            if i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(8)
            .x_max_light_lines(2)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&ylab)
            .x_desc("rate(A) − rate(B) on shared seeds, with 95% interval")
            .label_style((FONT, TICK).into_font().color(&INK))
            .axis_desc_style((FONT, DESC).into_font().color(&INK))
            .bold_line_style(bold)
            .light_line_style(light)
            .draw()?;
        let n = pairs.len() as f64;
        chart.draw_series(DashedLineSeries::new(
            vec![(0.0, -0.5), (0.0, n - 0.5)],
            6,
            4,
            RGBColor(120, 120, 120).stroke_width(1),
        ))?;
        let c = rgb(blue);
        for (i, p) in pairs.iter().enumerate() {
            let y = i as f64;
            if p.diff_lo.is_finite() && p.diff_hi.is_finite() {
                chart.draw_series([
                    PathElement::new(vec![(p.diff_lo, y), (p.diff_hi, y)], c.stroke_width(2)),
                    PathElement::new(vec![(p.diff_lo, y - 0.15), (p.diff_lo, y + 0.15)], c.stroke_width(2)),
                    PathElement::new(vec![(p.diff_hi, y - 0.15), (p.diff_hi, y + 0.15)], c.stroke_width(2)),
                ])?;
            }
            if p.diff.is_finite() {
                let style = if p.p_holm < 0.05 { c.filled() } else { WHITE.filled() };
                chart.draw_series(std::iter::once(Circle::new((p.diff, y), 6, style)))?;
                chart.draw_series(std::iter::once(Circle::new((p.diff, y), 6, c.stroke_width(2))))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_nice_and_bounded() {
        let s = Scale::linear(0.0, 1.0);
        let t = s.linear_ticks(6);
        let want = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        assert_eq!(t.len(), want.len());
        assert!(t.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
        assert!(Scale::linear(5.0, 5.0).linear_ticks(5).len() >= 2);
        assert_eq!(Scale::linear(f64::NAN, 3.0), Scale::linear(0.0, 1.0));
    }

    #[test]
    fn log_scale_snaps_to_decades() {
        let s = Scale::log(0.003, 0.7);
        assert_eq!((s.lo, s.hi), (1e-3, 1.0));
        assert_eq!(s.log_ticks(10, false).len(), 4);
        let d = Scale::log(0.0, f64::NAN);
        assert!(d.lo > 0.0 && d.hi > d.lo);
    }

    #[test]
    fn finite_prefix_stops_at_nan_and_clamps() {
        let (p, cut) = finite_prefix(&[1.0, 0.0, -2.0, f64::INFINITY, 0.5]);
        assert!(cut);
        assert_eq!(p, vec![(0.0, 1.0), (1.0, LOG_FLOOR), (2.0, LOG_FLOOR)]);
    }

    #[test]
    fn clip_shortens() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
