use super::*;

const SVG_NS: &str = "http://www.w3.org/2000/svg";

fn count(h: &str, needle: &str) -> usize {
    h.matches(needle).count()
}

/// Structural sanity shared by every test: balanced containers, nothing external.
fn assert_sane(h: &str) {
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(h.trim_end().ends_with("</html>"));
    for tag in ["svg", "figure", "section", "table", "details", "g"] {
        let open = count(h, &format!("<{tag}>")) + count(h, &format!("<{tag} "));
        let close = count(h, &format!("</{tag}>"));
        assert_eq!(open, close, "unbalanced <{tag}>");
    }
    let stripped = h.replace(SVG_NS, "");
    assert!(!stripped.contains("http://"), "external http reference");
    assert!(!stripped.contains("https://"), "external https reference");
    assert!(!h.contains("<script src"));
    assert!(!h.contains("<link"));
    for leak in ["\"NaN", "NaN,", ",NaN", ">NaN<", "\"inf", "\"-inf", ">inf<", ">-inf<", "inf,"] {
        assert!(!h.contains(leak), "a non-finite number leaked into the page: {leak}");
    }
}

#[test]
fn synthetic_report_has_every_chart() {
    let input = sample_input();
    let h = render(&input);
    assert_sane(&h);
    // 2 init_dist × 2 batch_norm heatmaps, 5 factor rate charts, 5 incidence charts (one per
    // factor), 4 loss-curve panels (one per layout), 1 forest plot.
    let expected = 2 * 2 + input.varied.len() + input.incidence.len() + input.curves.len() + 1;
    assert_eq!(expected, 19);
    assert_eq!(count(&h, "<svg"), expected);
    assert_eq!(count(&h, "class=\"heatmap\""), 4);
    // Heatmap tooltips carry n and the interval.
    assert!(h.contains("<title>layout = relu-sigmoid, lr = 0.5 (init_dist = uniform(-1,1), batch_norm = false)"));
    assert!(h.contains("of n = 600"));
    // Learning rates sorted numerically, layouts in config order.
    let (a, b) = (h.find(">0.1<").unwrap(), h.find(">0.9<").unwrap());
    assert!(a < b);
    // Tables: pairs and cells.
    assert!(h.contains("seed-clustered McNemar"));
    assert!(h.contains("1.1e-18"));
    assert_eq!(
        count(&h, "<tr><td>"),
        input.cells.len() + input.pairs.len() + input.effects.len() / 4
    );
    // Legends and axis descriptions are there.
    for s in [
        "converged",
        "diverged",
        "dead",
        "stalled",
        "epoch",
        "loss (log scale",
        "fraction of seeds",
        "budget 20000",
        "share of runs decided by each epoch",
        "still rising at its",
    ] {
        assert!(h.contains(s), "missing {s}");
    }
    // Fixed parameters are listed once in the header.
    assert!(h.contains("<code>hidden</code> = 4"));
}

#[test]
fn text_is_escaped() {
    let mut input = sample_input();
    input.title = "grid <&> \"x\" <script>alert(1)</script>".into();
    input.meta.push(("note<".into(), "a&b".into()));
    input.cells[0].params[1].1 = "relu<b>".into();
    input.pairs[0].verdict = "<i>bold</i>".into();
    input.curves[0].0 = "<svg>".into();
    let h = render(&input);
    assert_sane(&h);
    assert!(h.contains("grid &lt;&amp;&gt; &quot;x&quot; &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!h.contains("<script>alert"));
    assert!(h.contains("note&lt;") && h.contains("a&amp;b"));
    assert!(!h.contains("relu<b>") && h.contains("relu&lt;b&gt;"));
    assert!(!h.contains("<i>bold"));
    assert_eq!(count(&h, "<svg"), 19);
    assert_eq!(count(&h, "<script"), 1, "only the inline print helper");
}

#[test]
fn empty_input_renders_notes() {
    let h = render(&ReportInput::default());
    assert_sane(&h);
    assert_eq!(count(&h, "<svg"), 0);
    assert!(h.contains("untitled grid"));
    assert!(count(&h, "class=\"note\"") >= 5);
}

#[test]
fn curves_with_nan_inf_zero_and_negative() {
    let c = |id: &str, o: &str, l: Vec<f64>| Curve {
        run_id: id.into(),
        outcome: o.into(),
        losses: l,
    };
    let input = ReportInput {
        title: "curves".into(),
        curves: vec![
            (
                "mixed".into(),
                vec![
                    c("a", "converged", vec![0.7, 0.1, 0.0, -1.0, 1e-12]),
                    c("b", "diverged", vec![0.7, 5.0, 1e300, f64::INFINITY, f64::NAN]),
                    c("c", "diverged", vec![f64::NAN, 1.0]),
                    c("d", "stalled", vec![0.5]),
                    c("e", "weird-outcome", vec![]),
                ],
            ),
            ("only-nan".into(), vec![c("x", "diverged", vec![f64::NAN, f64::INFINITY])]),
            ("constant".into(), vec![c("y", "dead", vec![0.693; 50])]),
            ("empty".into(), vec![]),
        ],
        ..Default::default()
    };
    let h = render(&input);
    assert_sane(&h);
    // "mixed" and "constant" draw; "only-nan" becomes a note; "empty" is skipped.
    assert_eq!(count(&h, "<svg"), 2);
    assert!(h.contains("no finite loss values"));
    assert!(h.contains("last finite loss, then NaN/"));
    assert!(h.contains("≤ 10⁻⁸ drawn at 10⁻⁸"));
    assert!(h.contains("10⁻⁸"), "decade labels on a wide log axis");
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let nan3 = (f64::NAN, f64::NAN, f64::NAN);
    let cell = |layout: &str, n: u64| CellRow {
        params: vec![("layout".into(), layout.into()), ("lr".into(), "0.5".into())],
        n,
        counts: [n, 0, 0, 0],
        rate: if n == 0 {
            [nan3; 4]
        } else {
            [(1.0, 0.9, 1.0), (0.0, 0.0, 0.1), (0.0, 0.0, 0.1), (0.0, 0.0, 0.1)]
        },
        binding: n > 0,
        converged_by_seed: vec![true; n as usize],
    };
    let input = ReportInput {
        title: String::new(),
        meta: vec![],
        varied: vec![],
        cells: vec![cell("relu-sigmoid", 0), cell("relu-sigmoid", 10)],
        effects: vec![EffectRow {
            factor: "layout".into(),
            level: "relu-sigmoid".into(),
            outcome: "converged".into(),
            k: 0,
            n: 0,
            p: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        }],
        incidence: vec![
            FactorIncidence {
                factor: "layout".into(),
                levels: vec![
                    LevelIncidence {
                        level: "a".into(),
                        n: 3,
                        budgets: vec![5],
                        binding: true,
                        points: vec![(5, [(1.0, 0.4, 1.0), (0.0, 0.0, 0.6), (0.0, 0.0, 0.6)])],
                    },
                    LevelIncidence {
                        level: "nan".into(),
                        n: 0,
                        budgets: vec![],
                        binding: false,
                        points: vec![(0, [(f64::NAN, f64::NAN, f64::NAN); 3])],
                    },
                ],
            },
            FactorIncidence {
                factor: "empty".into(),
                levels: vec![LevelIncidence::default()],
            },
        ],
        curves: vec![],
        pairs: vec![PairRow {
            factor: "init_order".into(),
            level_a: "x".into(),
            level_b: "y".into(),
            diff: f64::NAN,
            diff_lo: f64::NAN,
            diff_hi: f64::NAN,
            p_exact: f64::NAN,
            p_holm: f64::NAN,
            ..Default::default()
        }],
    };
    let h = render(&input);
    assert_sane(&h);
    // One heatmap (1×1, nothing varied), one rate chart, one incidence chart (the factor
    // without points becomes a note), one forest plot.
    assert_eq!(count(&h, "<svg"), 4);
    assert!(h.contains("empty: no runs to draw"));

    // Equal pair differences.
    let mut wide = input.clone();
    wide.pairs[0].diff = 0.0;
    wide.pairs[0].diff_lo = 0.0;
    wide.pairs[0].diff_hi = 0.0;
    let h = render(&wide);
    assert_sane(&h);
}

#[test]
fn heatmap_falls_back_when_layout_and_lr_are_fixed() {
    let mut input = sample_input();
    input.varied = vec!["init_dist".into(), "init_order".into(), "batch_norm".into()];
    let (lay, facets, total) = heatmap::facets(&input);
    assert_eq!(lay.row.as_deref(), Some("init_dist"));
    assert_eq!(lay.col.as_deref(), Some("init_order"));
    assert_eq!(lay.facets, vec!["batch_norm".to_string()]);
    assert_eq!((facets.len(), total), (2, 2));
    assert_eq!(facets[0].rows.len(), 2);
    assert_eq!(facets[0].cols.len(), 3);
    let n: u64 = facets.iter().flat_map(|f| f.counts.iter().map(|c| c.1)).sum();
    assert_eq!(n, input.cells.iter().map(|c| c.n).sum::<u64>());

    // Only lr varies: a single row named after the (fixed) layout... which has 4 values here,
    // so the rows still show them; with one varied factor there is one row per level.
    input.varied = vec!["lr".into()];
    let (lay, facets, _) = heatmap::facets(&input);
    assert_eq!(lay.row, None);
    assert_eq!(lay.col.as_deref(), Some("lr"));
    assert_eq!(facets.len(), 1);
    assert_eq!(facets[0].cols, vec!["0.1", "0.5", "0.9"]);
    let h = render(&input);
    assert_sane(&h);
}

#[test]
fn helpers() {
    assert_eq!(fmt_num(1e-8), "1e-8");
    assert_eq!(fmt_num(0.25), "0.25");
    assert_eq!(fmt_num(1000.0), "1000");
    assert_eq!(fmt_num(2.5e6), "2.5e6");
    assert_eq!(fmt_num(100_000.0), "100000");
    assert_eq!(fmt_p(0.5), "0.500");
    assert_eq!(fmt_p(3.1e-6), "3.1e-6");
    assert_eq!(fmt_p(0.0), "< 1e-300");
    assert_eq!(order_levels(["1", "0.1", "10"].map(String::from).into_iter()), ["0.1", "1", "10"]);
    assert_eq!(order_levels(["b", "a", "b"].map(String::from).into_iter()), ["b", "a"]);
    let (p, lo, hi) = wilson(0, 10);
    assert_eq!(p, 0.0);
    assert_eq!(lo, 0.0);
    assert!((hi - 0.2775).abs() < 1e-3);
    assert!(wilson(1, 0).0.is_nan());
    assert_eq!(esc("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
}

/// `INITGRID_REPORT_SAMPLE=/tmp/r.html cargo test write_sample_report` writes the demo page
/// (for `scripts/check_report.sh`); without the variable it does nothing.
#[test]
fn write_sample_report() {
    if let Some(path) = std::env::var_os("INITGRID_REPORT_SAMPLE") {
        std::fs::write(path, render(&sample_input())).expect("write sample report");
    }
}

/// A heatmap entry pooling several cells counts seeds: in the sample every cell's first k
/// seeds converge, so the pooled cells are perfectly correlated by seed and the interval is
/// wider than plain Wilson on cells × seeds; a single-cell entry is plain Wilson.
#[test]
fn pooled_heatmap_intervals_count_seeds_not_runs() {
    let input = sample_input();
    let (_, facets, _) = heatmap::facets(&input);
    let mut checked = (0, 0);
    for f in &facets {
        for ((&(k, n), r), &cells) in f.counts.iter().zip(&f.rates).zip(&f.pooled) {
            if n == 0 || k == 0 || k == n {
                continue;
            }
            let plain = crate::analysis::stats::wilson(k, n, crate::analysis::stats::CONFIDENCE);
            assert_eq!((r.k, r.n), (k, n));
            if cells > 1 {
                assert!(r.hi - r.lo > plain.hi - plain.lo, "pooled entry not widened: {r:?} vs {plain:?}");
                checked.0 += 1;
            } else {
                assert!((r.lo - plain.lo).abs() < 1e-12 && (r.hi - plain.hi).abs() < 1e-12);
                checked.1 += 1;
            }
        }
    }
    assert!(checked.0 > 0, "the sample has no pooled heatmap entry");
}
