//! A synthetic, deterministic [`ReportInput`] for demos, tests and checking the page by eye.
//! The numbers are invented (shaped like the article's story), not results.

use super::{CellRow, Curve, EffectRow, FactorIncidence, LevelIncidence, OUTCOMES, PairRow, ReportInput, order_levels, param, wilson};

/// Tiny deterministic generator (SplitMix64), so the sample needs no RNG crate.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// 4 layouts × 3 learning rates × 2 init distributions × batch norm on/off × 3 init orders,
/// 200 seeds per cell, with effects, incidence curves, replayed curves (including NaN/∞) and pairs.
pub fn sample_input() -> ReportInput {
    let layouts = ["sigmoid-sigmoid", "relu-sigmoid", "relu-relu", "relu-sigmoid-sigmoid"];
    let lrs = ["0.1", "0.5", "0.9"];
    let dists = ["uniform(-1,1)", "normal(0,1)"];
    let bns = ["false", "true"];
    let orders = ["layer-major", "neuron-major", "per-neuron-lazy"];
    let seeds = 200u64;
    let mut rng = Mix(7);
    let mut cells = vec![];
    for (li, layout) in layouts.iter().enumerate() {
        for (ri, lr) in lrs.iter().enumerate() {
            for (di, dist) in dists.iter().enumerate() {
                for (bi, bn) in bns.iter().enumerate() {
                    for (oi, order) in orders.iter().enumerate() {
                        let relu = layout.starts_with("relu");
                        let lrv = [0.1, 0.5, 0.9][ri];
                        let mut conv: f64 = match li {
                            0 => 0.93 - 0.05 * lrv,
                            1 => 0.80 - 0.45 * lrv,
                            2 => 0.45 - 0.30 * lrv,
                            _ => 0.88 - 0.20 * lrv,
                        };
                        conv += 0.05 * di as f64 + if bi == 1 { 0.08 } else { 0.0 };
                        conv -= if relu { 0.03 * oi as f64 } else { 0.0 };
                        let conv = conv.clamp(0.02, 0.99);
                        let fail = 1.0 - conv;
                        let div_share = if relu { 0.25 + 0.6 * lrv } else { 0.1 * lrv };
                        let dead_share = if relu && bi == 0 { 0.5 * (1.0 - div_share) } else { 0.0 };
                        let mut k = [0u64; 4];
                        k[0] = (conv * seeds as f64).round() as u64;
                        k[1] = ((fail * div_share) * seeds as f64).round() as u64;
                        k[2] = ((fail * dead_share) * seeds as f64).round() as u64;
                        k[1] = k[1].min(seeds - k[0]);
                        k[2] = k[2].min(seeds - k[0] - k[1]);
                        k[3] = seeds - k[0] - k[1] - k[2];
                        let rate = [0, 1, 2, 3].map(|i| wilson(k[i], seeds));
                        cells.push(CellRow {
                            params: vec![
                                ("data".into(), "four-points".into()),
                                ("layout".into(), layout.to_string()),
                                ("lr".into(), lr.to_string()),
                                ("init_dist".into(), dist.to_string()),
                                ("batch_norm".into(), bn.to_string()),
                                ("init_order".into(), order.to_string()),
                                ("hidden".into(), "4".into()),
                                ("max_epochs".into(), "20000".into()),
                            ],
                            n: seeds,
                            counts: k,
                            rate,
                            binding: li == 0,
                            converged_by_seed: (0..seeds).map(|r| r < k[0]).collect(),
                        });
                    }
                }
            }
        }
    }
    let varied: Vec<String> = ["layout", "lr", "init_dist", "batch_norm", "init_order"].map(String::from).to_vec();
    let mut effects = vec![];
    for f in &varied {
        for lv in order_levels(cells.iter().filter_map(|c| param(c, f)).map(String::from)) {
            let sel: Vec<&CellRow> = cells.iter().filter(|c| param(c, f) == Some(lv.as_str())).collect();
            let n: u64 = sel.iter().map(|c| c.n).sum();
            for (i, o) in OUTCOMES.iter().enumerate() {
                let k: u64 = sel.iter().map(|c| c.counts[i]).sum();
                let (p, lo, hi) = wilson(k, n);
                effects.push(EffectRow {
                    factor: f.clone(),
                    level: lv.clone(),
                    outcome: o.to_string(),
                    k,
                    n,
                    p,
                    lo,
                    hi,
                });
            }
        }
    }
    // Cumulative incidence per level: converged rises with a level-dependent time scale (the
    // sigmoid-only layout slowly, still rising at the budget), dead rises early.
    let budget = 20_000u32;
    let incidence = varied
        .iter()
        .map(|f| FactorIncidence {
            factor: f.clone(),
            levels: order_levels(cells.iter().filter_map(|c| param(c, f)).map(String::from))
                .into_iter()
                .enumerate()
                .map(|(i, lv)| {
                    let sel: Vec<&CellRow> = cells.iter().filter(|c| param(c, f) == Some(lv.as_str())).collect();
                    let n: u64 = sel.iter().map(|c| c.n).sum();
                    let total = |k: usize| sel.iter().map(|c| c.counts[k]).sum::<u64>() as f64;
                    let slow = lv == "sigmoid-sigmoid";
                    let tau = if slow { 12_000.0 } else { 900.0 * (1.0 + i as f64) };
                    let frac = |t: f64, tau: f64| (1.0 - (-t / tau).exp()) / (1.0 - (-f64::from(budget) / tau).exp());
                    let points = (0..=100u32)
                        .map(|j| {
                            let t = f64::from(budget) * f64::from(j) / 100.0;
                            let at = |k: usize, tau: f64| {
                                let x = (total(k) * frac(t, tau)).round() as u64;
                                wilson(x.min(n), n)
                            };
                            (t as u32, [at(0, tau), at(1, 300.0), at(2, 150.0)])
                        })
                        .collect();
                    LevelIncidence {
                        level: lv,
                        n,
                        budgets: vec![budget],
                        binding: slow,
                        points,
                    }
                })
                .collect(),
        })
        .collect();
    let curves = layouts
        .iter()
        .enumerate()
        .map(|(li, l)| {
            let mut v = vec![];
            for (j, outcome) in ["converged", "converged", "diverged", "stalled", "dead"].iter().enumerate() {
                if li == 0 && *outcome == "dead" {
                    continue; // no ReLU, no dead runs
                }
                let len = 300 + 40 * j;
                let mut losses: Vec<f64> = (0..len)
                    .map(|e| {
                        let e = e as f64;
                        let noise = 1.0 + 0.03 * rng.normal();
                        match *outcome {
                            "converged" => (0.7 * (-e / (30.0 + 25.0 * j as f64)).exp() + 1e-4) * noise,
                            "diverged" => 0.7 * (e / 25.0).exp() * noise,
                            "stalled" => (0.5 + 0.2 * (-e / 40.0).exp()) * noise,
                            _ => 0.693,
                        }
                    })
                    .collect();
                if *outcome == "diverged" {
                    losses.truncate(180);
                    losses.extend([f64::INFINITY, f64::NAN, f64::NAN]);
                }
                if *outcome == "converged" && j == 1 {
                    let n = losses.len();
                    losses[n - 1] = 0.0; // exercises the log-axis floor
                }
                v.push(Curve {
                    run_id: format!("{l}/seed-{}", 1000 + 37 * j + li),
                    outcome: outcome.to_string(),
                    losses,
                });
            }
            (l.to_string(), v)
        })
        .collect();
    let pair = |a: &str, b: &str, both: u64, oa: u64, ob: u64, p: f64, ph: f64, verdict: &str| {
        let pairs = 9600u64;
        let diff = (oa as f64 - ob as f64) / pairs as f64;
        let se = ((oa + ob) as f64).sqrt() / pairs as f64;
        PairRow {
            factor: "init_order".into(),
            level_a: a.into(),
            level_b: b.into(),
            pairs,
            both,
            only_a: oa,
            only_b: ob,
            neither: pairs - both - oa - ob,
            diff,
            diff_lo: diff - 1.96 * se,
            diff_hi: diff + 1.96 * se,
            p_exact: p,
            p_holm: ph,
            verdict: verdict.into(),
        }
    };
    let pairs = vec![
        pair(
            "layer-major",
            "neuron-major",
            6100,
            412,
            318,
            6.2e-4,
            1.2e-3,
            "A converges more often",
        ),
        pair(
            "layer-major",
            "per-neuron-lazy",
            6050,
            505,
            262,
            1.1e-18,
            3.3e-18,
            "A converges more often",
        ),
        pair(
            "neuron-major",
            "per-neuron-lazy",
            6210,
            298,
            304,
            0.84,
            0.84,
            "no detectable difference",
        ),
    ];
    let runs: u64 = cells.iter().map(|c| c.n).sum();
    ReportInput {
        title: "four-points: does init order matter for ReLU?".into(),
        meta: vec![
            ("runs".into(), runs.to_string()),
            ("cells".into(), cells.len().to_string()),
            ("seeds per cell".into(), seeds.to_string()),
            ("wall".into(), "35.2 s".into()),
            ("initgrid".into(), "0.1.0".into()),
            ("git".into(), "abc123".into()),
        ],
        varied,
        cells,
        effects,
        incidence,
        curves,
        pairs,
    }
}
