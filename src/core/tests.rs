//! Cross-module tests of the training core: finite-difference gradient checks, lane
//! invariance, and end-to-end behaviour on the article's data sets.

use proptest::prelude::*;

use super::capacity::Requirement;
use super::dispatch;
use super::init::init_params;
use super::lanes::Lanes;
use super::seed::{init_rng, replicate_seed};
use super::train::{Criteria, Eval, Facts, decide, loss_and_grad};
use super::*;

fn spec(data: &str, layout: &str, lr: f64) -> TrainSpec {
    TrainSpec::new(Dataset::preset(data).unwrap(), layout.parse().unwrap(), lr)
}

/// Central differences (h = 1e−5) against the analytic gradient; relative error
/// |g − ĝ| / max(|g| + |ĝ|, 1e−3) must stay below 1e−6.
fn check_gradient(t: &Trainer, seed: u64) {
    let mut p = vec![0.0; t.shape().n_params];
    let s = t.spec();
    init_params(t.shape(), s.init_dist, s.bias_init, s.init_order, &mut init_rng(seed), &mut p);
    // Move γ/β off their initial values so their gradients are exercised too.
    for l in &t.shape().layers {
        if let Some(g) = l.gamma_off {
            for j in 0..l.units {
                p[g + j] = 0.7 + 0.1 * j as f64;
                p[g + l.units + j] = 0.05 * j as f64 - 0.13; // never exactly 0: a ReLU kink would fool the differences
            }
        }
    }
    let (l0, g) = loss_and_grad(t, &p);
    let h = 1e-5; // central differences: truncation ~h², rounding noise ~1e-16/h
    let mut kinks = 0;
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i] = p[i] + h;
        let (lp, _) = loss_and_grad(t, &q);
        q[i] = p[i] - h;
        let (lm, _) = loss_and_grad(t, &q);
        // A ReLU kink (or leaky kink) inside [p−h, p+h] makes the loss non-differentiable
        // there: the one-sided slopes disagree by far more than the curvature allows. Central
        // differences say nothing about the gradient at such a point, so skip it (a wrong
        // gradient would not make the slopes disagree).
        let (fwd, bwd) = ((lp - l0) / h, (l0 - lm) / h);
        if (fwd - bwd).abs() > 1e-2 * (fwd.abs() + bwd.abs()) + 1e-4 {
            kinks += 1;
            continue;
        }
        let mut fd = (lp - lm) / (2.0 * h);
        let rel_err = |fd: f64| (g[i] - fd).abs() / (g[i].abs() + fd.abs()).max(1e-3); // rounding noise ≈ 1e-10
        if rel_err(fd) >= 1e-6 {
            // Strong curvature (e.g. batch norm over nearly identical points) makes the O(h²)
            // truncation error visible: Richardson-extrapolate from h and h/2 (error O(h⁴)).
            let half = |d: f64| {
                let mut q = p.clone();
                q[i] = p[i] + d;
                let a = loss_and_grad(t, &q).0;
                q[i] = p[i] - d;
                (a - loss_and_grad(t, &q).0) / (2.0 * d)
            };
            fd = (4.0 * half(h / 2.0) - fd) / 3.0;
        }
        let rel = rel_err(fd);
        assert!(
            rel < 1e-6,
            "{} {}: param {i}: analytic {} vs fd {fd} (rel {rel:e})",
            s.layout,
            s.batch_norm,
            g[i]
        );
    }
    assert!(
        kinks * 4 <= p.len(),
        "{}: {kinks} of {} parameters sit on a kink",
        s.layout,
        p.len()
    );
}

#[test]
fn gradients_match_finite_differences() {
    // Every activation, one and two hidden layers, both losses, with and without batch norm.
    let layouts = [
        "sigmoid-sigmoid",
        "relu-sigmoid",
        "leaky_relu-sigmoid",
        "tanh-sigmoid",
        "linear-tanh",
        "tanh-relu",
        "tanh-linear",
        "relu-sigmoid-sigmoid",
        "tanh:3-leaky_relu:5-sigmoid",
        "tanh-softmax",
        "relu:3-tanh-softmax",
        "sigmoid-leaky_relu",
    ];
    for layout in layouts {
        for bn in [false, true] {
            for data in ["five", "xor"] {
                let mut s = spec(data, layout, 0.1);
                s.batch_norm = bn;
                s.batch = Batch::Full;
                s.init_dist = "normal(0,0.8)".parse().unwrap();
                let t = Trainer::new(s).unwrap();
                for seed in 0..3 {
                    check_gradient(&t, seed);
                }
            }
        }
    }
}

#[test]
fn binary_targets_gradient() {
    let mut s = spec("four", "tanh-sigmoid", 0.1);
    s.targets = Targets::Binary;
    let t = Trainer::new(s).unwrap();
    assert_eq!(t.shape().output_units(), 1);
    check_gradient(&t, 5);
}

proptest! {
    // A fixed seed keeps CI deterministic; set PROPTEST_RNG_SEED or change it to explore.
    #![proptest_config(ProptestConfig { cases: 48, rng_seed: proptest::test_runner::RngSeed::Fixed(2016), ..ProptestConfig::default() })]
    /// The gradient law holds for random layouts, widths, inputs and batch norm.
    #[test]
    fn gradient_law_random_networks(
        acts in proptest::collection::vec(0usize..5, 1..3),
        widths in proptest::collection::vec(1u32..5, 2),
        out_act in 0usize..4,
        bn in any::<bool>(),
        pts in proptest::collection::vec((-2.0f64..2.0, -2.0f64..2.0, 0u32..3), 3..6),
        seed in 0u64..1000,
    ) {
        let names = ["sigmoid", "relu", "leaky_relu", "tanh", "linear"];
        let mut toks: Vec<String> = acts.iter().zip(&widths).map(|(&a, &w)| format!("{}:{w}", names[a])).collect();
        toks.push(["sigmoid", "tanh", "linear", "softmax"][out_act].to_string());
        let rows: Vec<Vec<f64>> = pts.iter().map(|&(a, b, l)| vec![a, b, l as f64]).collect();
        let d = Dataset::from_rows("rand", &rows, Some(3)).unwrap();
        let mut s = TrainSpec::new(d, toks.join("-").parse().unwrap(), 0.1);
        s.batch_norm = bn;
        s.batch = Batch::Full;
        s.init_dist = "normal(0,0.7)".parse().unwrap();
        let t = Trainer::new(s).unwrap();
        check_gradient(&t, seed);
    }
}

/// A run's result is the same bits alone (N = 1), in a lane group of 8 with other seeds around
/// it, and on every SIMD level.
#[test]
fn lanes_give_the_same_bits_as_scalar_runs() {
    let cases = [
        ("four", "relu-sigmoid", 0.5, false, Batch::Online, SampleOrder::Fixed),
        ("five", "relu-sigmoid-sigmoid", 0.9, false, Batch::Online, SampleOrder::Shuffled),
        ("five", "sigmoid-sigmoid", 0.5, true, Batch::Full, SampleOrder::Fixed),
        ("four", "tanh-softmax", 0.3, true, Batch::Size(2), SampleOrder::Shuffled),
        ("three", "relu-relu", 0.9, false, Batch::Online, SampleOrder::Fixed),
    ];
    for (data, layout, lr, bn, batch, order) in cases {
        let mut s = spec(data, layout, lr);
        s.batch_norm = bn;
        s.batch = batch;
        s.sample_order = order;
        s.max_epochs = 300;
        s.momentum = if bn { 0.5 } else { 0.0 };
        let t = Trainer::new(s).unwrap();
        let seeds: Vec<u64> = (0..21).map(|r| replicate_seed(1, r)).collect();
        let scalar: Vec<RunResult> = seeds.iter().map(|&s| t.run(s)).collect();
        let mut grouped = vec![None; seeds.len()];
        t.run_many(&seeds, |i, r| grouped[i] = Some(r));
        let mut base = vec![None; seeds.len()];
        dispatch::run_baseline(&t, &seeds, |i, r| base[i] = Some(r));
        // A different grouping: reversed order puts every seed next to other neighbours.
        let rev: Vec<u64> = seeds.iter().rev().copied().collect();
        let mut reversed = vec![None; seeds.len()];
        t.run_many(&rev, |i, r| reversed[seeds.len() - 1 - i] = Some(r));
        for i in 0..seeds.len() {
            for other in [&grouped[i], &base[i], &reversed[i]] {
                let o = other.unwrap();
                let a = scalar[i];
                assert_eq!(a.outcome, o.outcome, "{layout} seed {i}");
                assert_eq!(a.epochs, o.epochs);
                assert_eq!(a.final_loss.to_bits(), o.final_loss.to_bits());
                assert_eq!(a.min_loss.to_bits(), o.min_loss.to_bits());
                assert_eq!(a.max_abs_param.to_bits(), o.max_abs_param.to_bits());
            }
        }
    }
}

#[test]
fn trajectory_agrees_with_the_run() {
    let t = Trainer::new(spec("four", "relu-sigmoid", 0.5)).unwrap();
    for r in 0..10 {
        let seed = replicate_seed(3, r);
        let (res, tr) = t.run_trajectory(seed);
        assert_eq!(res, t.run(seed));
        assert_eq!(tr.losses.len(), res.epochs as usize + 1);
        assert_eq!(tr.losses.last().unwrap().to_bits(), res.final_loss.to_bits());
        assert_eq!(tr.initial_params.layers.len(), 2);
        assert_eq!(tr.initial_params.layers[0].weights.len(), 4);
        assert_eq!(tr.initial_params.layers[1].weights[0].len(), 4);
    }
}

#[test]
fn sample_order_never_changes_initial_weights() {
    let mut a = spec("five", "relu-sigmoid", 0.3);
    a.max_epochs = 5;
    let mut b = a.clone();
    b.sample_order = SampleOrder::Shuffled;
    // Seed 11 is born capacity-doomed on `five`: train it on anyway, this test is about order.
    let trainer = |s: TrainSpec| {
        let mut t = Trainer::new(s).unwrap();
        t.disable_doom_stop();
        t
    };
    let (_, ta) = trainer(a).run_trajectory(11);
    let (_, tb) = trainer(b).run_trajectory(11);
    assert_eq!(ta.initial_params, tb.initial_params);
    assert_eq!(ta.losses[0], tb.losses[0]);
    assert_ne!(ta.losses[5], tb.losses[5]);
}

#[test]
fn non_finite_anything_is_diverged_never_a_panic() {
    // An absurd learning rate blows up; a huge init overflows at once.
    let mut s = spec("four", "tanh-linear", 1e3);
    s.max_epochs = 50;
    let t = Trainer::new(s).unwrap();
    let mut diverged = 0;
    for r in 0..20 {
        let res = t.run(replicate_seed(0, r));
        if res.outcome == Outcome::Diverged {
            diverged += 1;
        }
    }
    assert!(diverged > 0);
    let mut s = spec("two", "linear-linear", 0.1);
    s.init_dist = "normal(0,1e300)".parse().unwrap();
    let res = Trainer::new(s).unwrap().run(1);
    assert_eq!(res.outcome, Outcome::Diverged);
    assert_eq!(res.epochs, 0);
}

/// A NaN that arithmetic makes is the hardware's (x86: `0xfff8…` for ∞ − ∞; ARM: `0x7ff8…`);
/// every NaN a result holds is stored as the one canonical NaN, so a run's bits are the same on
/// every CPU — on the SIMD kernels, the scalar path and the trajectory alike.
#[test]
fn nan_results_are_stored_canonical() {
    // Weights of ~1e200 overflow the second layer's sums to ±∞ at once; the output layer then
    // adds +∞ and −∞: NaN losses at epoch 0 (x86 made them 0xfff8… before they were canonical).
    let mut s = spec("four", "linear-linear-linear", 0.5);
    s.init_dist = "normal(0,1e200)".parse().unwrap();
    s.max_epochs = 50;
    let t = Trainer::new(s).unwrap();
    let seeds: Vec<u64> = (0..64).map(|r| replicate_seed(0, r)).collect();
    let canonical = f64::NAN.to_bits();
    let mut nan_losses = 0;
    let mut check = |r: &RunResult| {
        nan_losses += r.final_loss.is_nan() as u32;
        for v in [r.final_loss, r.min_loss, r.initial_loss, r.loss_at_90pct, r.max_abs_param] {
            if v.is_nan() {
                assert_eq!(v.to_bits(), canonical, "{r:?}");
            }
        }
    };
    t.run_many(&seeds, |_, r| check(&r));
    for &seed in &seeds[..8] {
        let (r, tr) = t.run_trajectory(seed);
        check(&r);
        assert!(tr.losses.iter().all(|l| !l.is_nan() || l.to_bits() == canonical));
    }
    assert!(nan_losses > 32, "NaN final losses in {nan_losses} of 72 runs");
}

/// `same_value`: the same bits, or NaN on both sides whatever its sign and payload (results
/// stored before NaNs were canonical hold x86's `0xfff8…`); +0 and −0 stay different.
#[test]
fn same_value_is_equal_bits_or_nan_on_both_sides() {
    let neg_nan = f64::from_bits(0xfff8_0000_0000_0000);
    let payload = f64::from_bits(0x7ff8_0000_0000_0001);
    assert!(same_value(f64::NAN, neg_nan) && same_value(payload, neg_nan) && same_value(neg_nan, neg_nan));
    assert!(!same_value(0.0, -0.0) && !same_value(f64::NAN, f64::INFINITY) && !same_value(f64::NAN, 0.0));
    assert!(same_value(1.5, 1.5) && !same_value(1.5, 1.5f64.next_up()));
    for x in [neg_nan, payload, f64::NAN] {
        assert_eq!(super::train::canonical_nan(x).to_bits(), 0x7ff8_0000_0000_0000);
    }
    for x in [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, -1.25, f64::MIN_POSITIVE / 4.0] {
        assert_eq!(super::train::canonical_nan(x).to_bits(), x.to_bits());
    }
    // A stored result with the hardware's NaN equals the same run retrained with the canonical one.
    let mut s = spec("four", "linear-linear-linear", 0.5);
    s.init_dist = "normal(0,1e200)".parse().unwrap();
    let t = Trainer::new(s).unwrap();
    let r = (0..64)
        .map(|i| t.run(replicate_seed(0, i)))
        .find(|r| r.final_loss.is_nan())
        .expect("a NaN run");
    let mut old = r;
    old.final_loss = neg_nan;
    old.initial_loss = neg_nan;
    assert_eq!(old, r);
    old.final_loss = f64::INFINITY;
    assert_ne!(old, r);
}

#[test]
fn config_errors_name_the_key() {
    let mut s = spec("four", "relu-sigmoid", 0.1);
    s.batch_norm = true;
    let e = Trainer::new(s).unwrap_err();
    assert_eq!(e.key, "batch_norm");
    assert!(e.message.contains("batches of ≥ 2"));
    let mut s = spec("four", "relu-sigmoid", 0.1);
    s.loss = Loss::Ce;
    assert_eq!(Trainer::new(s).unwrap_err().key, "loss");
    let mut s = spec("four", "relu-softmax", 0.1);
    s.loss = Loss::Mse;
    assert_eq!(Trainer::new(s).unwrap_err().key, "loss");
    assert_eq!(Trainer::new(spec("four", "relu-sigmoid", 0.0)).unwrap_err().key, "lr");
    assert_eq!(Trainer::new(spec("four", "relu-sigmoid", f64::NAN)).unwrap_err().key, "lr");
    let mut s = spec("five", "relu-sigmoid", 0.1);
    s.batch_norm = true;
    s.batch = Batch::Size(2);
    assert_eq!(Trainer::new(s).unwrap_err().key, "batch");
    let mut s = spec("four", "relu-sigmoid:3", 0.1);
    s.max_epochs = 10;
    assert_eq!(Trainer::new(s).unwrap_err().key, "layout");
}

/// Fraction of 200 seeds with each outcome.
fn rates(s: TrainSpec) -> [f64; 4] {
    let t = Trainer::new(s).unwrap();
    let seeds: Vec<u64> = (0..200).map(|r| replicate_seed(2016, r)).collect();
    let mut c = [0.0; 4];
    t.run_many(&seeds, |_, r| c[r.outcome as usize] += 1.0 / 200.0);
    c
}

// Expected behaviour measured first (200 seeds, base seed 2016), then pinned loosely.
#[test]
fn article_two_points_sigmoid_converges() {
    let mut s = spec("two", "sigmoid-sigmoid", 0.5);
    s.max_epochs = 5000;
    let r = rates(s);
    assert!(r[Outcome::Converged as usize] > 0.95, "{r:?}");
}

#[test]
fn article_four_points_relu_fails_often_sigmoid_less() {
    let mut relu = spec("four", "relu-sigmoid", 0.5);
    relu.max_epochs = 3000;
    let mut sig = relu.clone();
    sig.layout = "sigmoid-sigmoid".parse().unwrap();
    let (r, s) = (rates(relu), rates(sig));
    eprintln!("four relu {r:?} sigmoid {s:?}");
    assert!(r[Outcome::Converged as usize] < 0.9, "{r:?}");
    assert!(r[Outcome::Dead as usize] > 0.0, "{r:?}");
}

#[test]
fn batch_norm_prevents_born_dead() {
    let mut s = spec("five", "relu-sigmoid", 0.5);
    s.batch_norm = true;
    s.batch = Batch::Full;
    s.max_epochs = 1;
    let t = Trainer::new(s).unwrap();
    for r in 0..200 {
        assert!(!t.run(replicate_seed(9, r)).born_dead);
    }
}

// ---------------------------------------------------------------------------------------------
// Capacity doom (issue 12) and the one outcome rule (issue 10).

/// Every seed's result, in seed order (one closure type: one instance of the lane kernels).
fn results(t: &Trainer, seeds: &[u64]) -> Vec<RunResult> {
    let mut v = vec![None; seeds.len()];
    t.run_many(seeds, |i, r| v[i] = Some(r));
    v.into_iter().map(|r| r.expect("every seed reports")).collect()
}

/// Results of `seeds` with doom stopping on and off.
fn doom_on_off(s: &TrainSpec, seeds: &[u64]) -> (Vec<RunResult>, Vec<RunResult>) {
    let on = Trainer::new(s.clone()).unwrap();
    let mut off = on.clone();
    off.disable_doom_stop();
    (results(&on, seeds), results(&off, seeds))
}

/// (b) + (d): no run flagged `capacity` converges when trained on to max_epochs with doom
/// stopping off, and every run not flagged gives the same bits either way (the switch-off path
/// is the rule-free trainer).
#[test]
fn no_capacity_doomed_run_ever_converges() {
    let seeds: Vec<u64> = (0..300).map(|r| replicate_seed(12, r)).collect();
    let mut flagged_total = 0;
    for data in ["three", "four"] {
        for layout in ["relu-sigmoid", "relu-relu"] {
            for lr in [0.2, 0.9] {
                let mut s = spec(data, layout, lr);
                s.max_epochs = 1500;
                let (on, off) = doom_on_off(&s, &seeds);
                let mut flagged = 0;
                for (a, b) in on.iter().zip(&off) {
                    if a.dead_cause == Some(DeadCause::Capacity) {
                        flagged += 1;
                        assert_eq!(a.outcome, Outcome::Dead);
                        assert!(a.epochs <= b.epochs);
                        assert_ne!(b.outcome, Outcome::Converged, "{data} {layout} {lr}: {a:?} / {b:?}");
                        assert_ne!(b.dead_cause, Some(DeadCause::Capacity));
                    } else {
                        assert_eq!(a, b, "{data} {layout} {lr}: {a:?} vs {b:?}");
                    }
                }
                eprintln!("{data} {layout} lr {lr}: {flagged}/300 flagged capacity");
                flagged_total += flagged;
            }
        }
    }
    assert!(flagged_total > 100, "{flagged_total}");
}

/// (c) At the bound minus one unit nothing converges and every run is dead at epoch 0; at the
/// bound some runs converge (positive controls, 5000 epochs, 200 seeds).
#[test]
fn expressivity_tight_cases() {
    let seeds: Vec<u64> = (0..200).map(|r| replicate_seed(7, r)).collect();
    for (data, hidden, need) in [("three", 1, 2), ("four", 2, 3)] {
        let mut s = spec(data, "relu-sigmoid", 0.5);
        s.hidden = hidden;
        s.max_epochs = 3000;
        let t = Trainer::new(s.clone()).unwrap();
        assert_eq!(t.capacity(), Some(Requirement::Units(need)));
        let (on, off) = doom_on_off(&s, &seeds);
        for (a, b) in on.iter().zip(&off) {
            assert_eq!((a.outcome, a.epochs), (Outcome::Dead, 0), "{data} H={hidden}: {a:?}");
            assert!(a.dead_cause.is_some());
            assert_ne!(b.outcome, Outcome::Converged, "{data} H={hidden}: {b:?}");
        }
    }
    for (data, hidden) in [("three", 2), ("four", 3)] {
        let mut s = spec(data, "relu-sigmoid", 0.5);
        s.hidden = hidden;
        s.max_epochs = 5000;
        let t = Trainer::new(s).unwrap();
        let conv = results(&t, &seeds).iter().filter(|r| r.outcome == Outcome::Converged).count();
        eprintln!("{data} H={hidden}: {conv}/200 converged");
        assert!(conv >= 5, "{data} H={hidden}: {conv}/200 converged");
    }
}

#[test]
fn doom_applies_only_where_proven() {
    let four = |layout: &str| spec("four", layout, 0.5);
    let cap = |s: TrainSpec| Trainer::new(s).unwrap().capacity();
    assert_eq!(cap(four("relu-sigmoid")), Some(Requirement::Units(3)));
    assert_eq!(cap(four("relu-softmax")), Some(Requirement::Units(3)));
    assert_eq!(cap(four("relu:6-linear")), Some(Requirement::Units(3)));
    assert_eq!(cap(spec("five", "relu-sigmoid", 0.5)), Some(Requirement::Units(3)));
    assert_eq!(cap(spec("two", "relu-sigmoid", 0.5)), Some(Requirement::Units(1)));
    let mut m = four("relu-sigmoid");
    m.momentum = 0.9;
    assert_eq!(cap(m), None);
    let mut bn = four("relu-sigmoid");
    bn.batch_norm = true;
    bn.batch = Batch::Full;
    assert_eq!(cap(bn), None);
    assert_eq!(cap(four("relu-relu-sigmoid")), None);
    assert_eq!(cap(four("sigmoid-sigmoid")), None);
    assert_eq!(cap(spec("xor", "relu-sigmoid", 0.5)), None);
    let mut b = four("relu-relu");
    b.targets = Targets::Binary;
    assert_eq!(cap(b), Some(Requirement::Units(3)));
    // With momentum a run that would be doomed trains on (and no capacity label appears).
    let mut s = four("relu-sigmoid");
    s.hidden = 2;
    s.momentum = 0.5;
    s.max_epochs = 50;
    let r = Trainer::new(s).unwrap().run(3);
    assert_ne!(r.dead_cause, Some(DeadCause::Capacity));
    assert!(r.epochs == 50 || r.outcome == Outcome::Diverged, "{r:?}");
    // Unfittable data: two points at one x with different labels.
    let d = Dataset::from_rows("dup", &[vec![0.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]], None).unwrap();
    let t = Trainer::new(TrainSpec::new(d, "relu-sigmoid".parse().unwrap(), 0.5)).unwrap();
    assert_eq!(t.capacity(), Some(Requirement::Unfittable));
    let r = t.run(1);
    assert_eq!((r.outcome, r.epochs), (Outcome::Dead, 0));
}

#[test]
fn new_result_fields_agree_with_the_trajectory() {
    let mut s = spec("four", "relu-sigmoid", 0.5);
    s.max_epochs = 100;
    let t = Trainer::new(s).unwrap();
    let (mut saw_doom, mut saw_90) = (false, false);
    for r in 0..60 {
        let (res, tr) = t.run_trajectory(replicate_seed(4, r));
        assert_eq!(tr.live_units.len(), res.epochs as usize + 1);
        assert_eq!(res.initial_loss.to_bits(), tr.losses[0].to_bits());
        assert_eq!(res.live_units_init, tr.live_units[0]);
        assert_eq!(res.live_units_final, *tr.live_units.last().unwrap());
        assert_eq!(res.live_units_init + res.dead_units_init, 4);
        assert_eq!(res.live_units_final + res.dead_units_final, 4);
        // Live units never come back under plain SGD.
        assert!(tr.live_units.windows(2).all(|w| w[1] <= w[0]));
        if res.epochs >= 90 {
            assert_eq!(res.loss_at_90pct.to_bits(), tr.losses[90].to_bits());
            saw_90 = true;
        } else {
            assert!(res.loss_at_90pct.is_nan());
        }
        match res.dead_cause {
            Some(DeadCause::Capacity) => {
                assert!(res.live_units_final < 3 && res.live_units_final > 0, "{res:?}");
                // Doomed the first epoch the live count fell below 3.
                assert!(tr.live_units[..res.epochs as usize].iter().all(|&l| l >= 3));
                saw_doom = true;
            }
            Some(DeadCause::Layer) => assert_eq!(res.live_units_final, 0),
            None => assert_ne!(res.outcome, Outcome::Dead),
        }
        assert_eq!(res, t.run(replicate_seed(4, r)));
    }
    assert!(saw_doom && saw_90, "{saw_doom} {saw_90}");
    // ⌈0.9·max⌉ in integers: 0.9·10 is 9.000000000000002 in floating point.
    let mut s = spec("four", "sigmoid-sigmoid", 0.01);
    s.max_epochs = 10;
    let (res, tr) = Trainer::new(s).unwrap().run_trajectory(1);
    assert_eq!(res.epochs, 10);
    assert_eq!(res.loss_at_90pct.to_bits(), tr.losses[9].to_bits());
}

#[test]
fn outcome_rule_edges() {
    let c = Criteria {
        tol: 0.01,
        diverge_loss: 1e6,
        stop_when_dead: true,
    };
    let f = |loss: f64| Facts {
        loss,
        all_correct: true,
        params_finite: true,
        dead_layer: false,
        doomed: false,
    };
    let o = |f: Facts, at_max| decide(&c, &f, at_max).map(|d| d.0);
    assert_eq!(o(f(0.01), false), Some(Outcome::Converged)); // tie at tol converges
    assert_eq!(o(f(1e6), false), None); // tie at diverge_loss does not diverge
    for l in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.000001e6] {
        assert_eq!(o(f(l), false), Some(Outcome::Diverged), "{l}");
    }
    let inf = Criteria {
        diverge_loss: f64::INFINITY,
        ..c
    };
    assert_eq!(decide(&inf, &f(f64::INFINITY), false).map(|d| d.0), Some(Outcome::Diverged));
    assert_eq!(decide(&inf, &f(1e300), false), None);
    let both = Facts {
        loss: 0.3,
        dead_layer: true,
        doomed: true,
        ..f(0.3)
    };
    assert_eq!(decide(&c, &both, false), Some((Outcome::Dead, Some(DeadCause::Layer))));
    let doomed = Facts { dead_layer: false, ..both };
    assert_eq!(decide(&c, &doomed, false), Some((Outcome::Dead, Some(DeadCause::Capacity))));
    let no_stop = Criteria {
        stop_when_dead: false,
        ..c
    };
    assert_eq!(decide(&no_stop, &both, false), Some((Outcome::Dead, Some(DeadCause::Capacity))));
    let layer_only = Facts { doomed: false, ..both };
    assert_eq!(decide(&no_stop, &layer_only, false), None);
    assert_eq!(decide(&no_stop, &layer_only, true), Some((Outcome::Dead, Some(DeadCause::Layer))));
    assert_eq!(decide(&c, &f(0.5), true), Some((Outcome::Stalled, None)));
    let bad = Facts {
        params_finite: false,
        ..f(0.0)
    };
    assert_eq!(o(bad, false), Some(Outcome::Diverged));
}

fn special_loss() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(0.01),
        Just(0.5),
        Just(1e6),
        Just(f64::MAX),
        -1.0f64..2.0,
        0.0f64..2e6,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, rng_seed: proptest::test_runner::RngSeed::Fixed(10), ..ProptestConfig::default() })]
    /// The vectorised short-cut `Eval::decisions` equals the scalar rule `decide` lane by lane.
    #[test]
    fn vector_decisions_equal_the_scalar_rule(
        lanes in proptest::collection::vec((special_loss(), 0u32..6, any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()), 8),
        n in 1u32..6,
        tol in prop_oneof![Just(0.0), Just(0.01), Just(0.5), 0.0f64..1.0],
        diverge_loss in prop_oneof![Just(f64::INFINITY), Just(1e6), Just(0.5), Just(f64::MAX), 0.0f64..3.0],
        stop_when_dead in any::<bool>(),
    ) {
        let mut ev = Eval::<8> {
            loss: Lanes::zero(),
            correct: Lanes::zero(),
            dead_units: Lanes::zero(),
            dead_layer: Lanes::zero(),
            doomed: Lanes::zero(),
            max_abs: Lanes::zero(),
            bad: Lanes::zero(),
            n: n as f64,
        };
        for (k, &(loss, correct, all, bad, dead, doomed)) in lanes.iter().enumerate() {
            ev.loss.0[k] = loss;
            ev.correct.0[k] = if all { n as f64 } else { correct.min(n - 1) as f64 };
            ev.bad.0[k] = bad as u8 as f64;
            ev.dead_layer.0[k] = dead as u8 as f64;
            ev.doomed.0[k] = doomed as u8 as f64;
        }
        let c = Criteria { tol, diverge_loss, stop_when_dead };
        let v = ev.decisions(&c);
        for k in 0..8 {
            let facts = ev.lane(k, 4).facts;
            prop_assert_eq!(v.0[k] != 0.0, decide(&c, &facts, false).is_some(), "lane {} {:?} {:?}", k, facts, c);
            prop_assert!(v.0[k] == 0.0 || v.0[k] == 1.0);
            prop_assert!(decide(&c, &facts, true).is_some());
        }
    }
}

/// Share of runs doomed (born / died) and epochs saved, relu-sigmoid lr 0.5 hidden 4, 5000
/// epochs. `cargo test --lib core::tests::measure_doom -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_doom() {
    let seeds: Vec<u64> = (0..2000).map(|r| replicate_seed(2016, r)).collect();
    for data in ["three", "four", "five"] {
        let mut s = spec(data, "relu-sigmoid", 0.5);
        s.max_epochs = 5000;
        let t0 = std::time::Instant::now();
        let (on, off) = doom_on_off(&s, &seeds);
        let secs = t0.elapsed().as_secs_f64();
        let cap: Vec<&RunResult> = on.iter().filter(|r| r.dead_cause == Some(DeadCause::Capacity)).collect();
        let born = cap.iter().filter(|r| r.epochs == 0).count();
        let layer = on.iter().filter(|r| r.dead_cause == Some(DeadCause::Layer)).count();
        let conv = on.iter().filter(|r| r.outcome == Outcome::Converged).count();
        let e_on: u64 = on.iter().map(|r| r.epochs as u64).sum();
        let e_off: u64 = off.iter().map(|r| r.epochs as u64).sum();
        let conv_off = off.iter().filter(|r| r.outcome == Outcome::Converged).count();
        eprintln!(
            "{data}: capacity-doomed {}/2000 (born {born}, died {}), layer-dead {layer}, converged {conv} (off: {conv_off}); epochs on {e_on} off {e_off} saved {} ({:.1} %); {secs:.1} s both",
            cap.len(),
            cap.len() - born,
            e_off - e_on,
            100.0 * (e_off - e_on) as f64 / e_off as f64
        );
    }
}

/// Every result of kernel `K` on 4 portable lanes (a function of its own per kernel: inlined
/// into one test, seven kernels make one function that takes LLVM many minutes).
#[inline(never)]
fn run_kernel<K: super::train::Kernel<4>>(t: &Trainer, seeds: &[u64]) -> Vec<Option<RunResult>> {
    let mut v = vec![None; seeds.len()];
    t.run_lanes_with::<4, K>(seeds, None, &mut |i, r| v[i] = Some(r));
    v
}

/// The fused kernels (one or two hidden layers; online, or full-batch SGD with and without batch
/// norm) against the generic kernels, every field of every result bit for bit: every pair of
/// activations (and 25 triples for two hidden layers), online in both sample orders and full
/// batches in fixed order, one-hot and binary targets, the hidden widths that have a fused
/// kernel, runs that converge, diverge, die, are doomed or stall — in groups of 4 lanes
/// (refilled at different epochs) and as dispatched.
#[test]
fn fused_kernels_give_the_generic_bits() {
    use super::fused::{ANY, Fused, NONE, applies};
    use super::train::QUIET_EPOCHS;
    let quiet_before = QUIET_EPOCHS.with(|c| c.get());
    let hidden = ["relu", "leaky_relu", "sigmoid", "tanh", "linear"];
    let outputs = ["sigmoid", "relu", "linear", "tanh", "leaky_relu"];
    let data = ["two", "three", "four", "five"];
    let mut case = 0usize;
    let mut fused_cases = 0;
    for (i, h) in hidden.into_iter().enumerate() {
        for (j, o) in outputs.into_iter().enumerate() {
            // (shuffled, full batch, batch norm)
            for (shuffled, full, bn) in [
                (false, false, false),
                (true, false, false),
                (false, true, false),
                (false, true, true),
            ] {
                for deep in [false, true] {
                    case += 1;
                    let layout = if deep {
                        format!("{h}-{}-{o}", hidden[(i + j + 1) % 5])
                    } else {
                        format!("{h}-{o}")
                    };
                    let mut s = spec(data[case % 4], &layout, [0.1, 0.9, 3.0, 25.0][case % 4]);
                    s.hidden = if deep { 4 } else { [4, 2, 8, 4][(case / 2) % 4] };
                    s.targets = if !deep && case.is_multiple_of(3) {
                        Targets::Binary
                    } else {
                        Targets::Onehot
                    };
                    s.sample_order = if shuffled { SampleOrder::Shuffled } else { SampleOrder::Fixed };
                    s.batch = if full { Batch::Full } else { Batch::Online };
                    s.batch_norm = bn;
                    s.tol = [0.01, 0.0, 0.05][case % 3];
                    s.max_epochs = 150;
                    let t = Trainer::new(s).unwrap();
                    let seeds: Vec<u64> = (0..23).map(|r| replicate_seed(case as u64, r)).collect();
                    let mut generic = vec![None; seeds.len()];
                    dispatch::run_baseline(&t, &seeds, |i, r| generic[i] = Some(r));
                    let mut runs: Vec<Vec<Option<RunResult>>> = Vec::new();
                    macro_rules! fused {
                        ($h:literal, $h2:literal, $o:literal, $ma:ident) => {
                            if applies(&t, $h, $h2, $o, ANY, $ma, ANY) {
                                runs.push(run_kernel::<Fused<Lanes<4>, 4, $h, $h2, $o, ANY, $ma, ANY>>(&t, &seeds));
                            }
                        };
                    }
                    fused!(4, 0, 2, NONE);
                    fused!(4, 0, 1, NONE);
                    fused!(2, 0, 2, NONE);
                    fused!(8, 0, 2, NONE);
                    fused!(2, 0, 1, NONE);
                    fused!(8, 0, 1, NONE);
                    fused!(4, 4, 2, ANY);
                    assert!(!runs.is_empty(), "{layout}: no fused kernel applied");
                    fused_cases += 1;
                    let mut by_dispatch = vec![None; seeds.len()];
                    t.run_many(&seeds, |i, r| by_dispatch[i] = Some(r));
                    runs.push(by_dispatch);
                    for v in &runs {
                        for i in 0..seeds.len() {
                            assert_eq!(v[i], generic[i], "{layout} shuffled={shuffled} full={full} bn={bn} seed {i}");
                        }
                    }
                }
            }
        }
    }
    assert_eq!(fused_cases, 200);
    // The kernels' own loops of quiet epochs ran, and some of them ended on a lane deciding
    // (between the scheduler's looks), all with the generic bits above.
    let (epochs, decided, full) = QUIET_EPOCHS.with(|c| c.get());
    assert!(
        epochs - quiet_before.0 > 10_000,
        "quiet epochs in kernel loops: {}",
        epochs - quiet_before.0
    );
    assert!(
        full - quiet_before.2 > 5_000 && full - quiet_before.2 < epochs - quiet_before.0,
        "quiet full-batch epochs in kernel loops: {} of {}",
        full - quiet_before.2,
        epochs - quiet_before.0
    );
    assert!(
        decided - quiet_before.1 > 50,
        "quiet runs ended by a decision: {}",
        decided - quiet_before.1
    );
}

/// Every SIMD level this CPU has (AVX2 and AVX-512, fused and generic kernels) against the
/// portable baseline, bit for bit — so the AVX2 kernels are checked on AVX-512 machines too.
#[test]
fn every_simd_level_gives_the_baseline_bits() {
    use Batch::{Full, Online};
    use SampleOrder::{Fixed, Shuffled};
    use Targets::{Binary, Onehot};
    // (data, layout, batch, order, targets, hidden, batch norm)
    let cases = [
        ("four", "relu-sigmoid", Online, Fixed, Onehot, 4, false),
        ("five", "sigmoid-sigmoid", Full, Fixed, Onehot, 4, false),
        ("three", "relu-relu", Online, Shuffled, Onehot, 4, false),
        ("three", "relu-sigmoid", Online, Shuffled, Onehot, 4, false),
        ("four", "tanh-linear", Online, Fixed, Binary, 4, false),
        ("five", "leaky_relu-sigmoid", Full, Fixed, Onehot, 8, false),
        ("two", "relu-sigmoid", Online, Fixed, Onehot, 2, false),
        ("five", "relu-sigmoid-sigmoid", Online, Fixed, Onehot, 4, false),
        ("four", "relu-sigmoid", Full, Fixed, Onehot, 4, true),
        ("five", "relu-sigmoid-sigmoid", Full, Fixed, Onehot, 4, true),
        ("three", "tanh-relu-sigmoid", Full, Fixed, Onehot, 4, false),
    ];
    for (i, (data, layout, batch, order, targets, hidden, bn)) in cases.into_iter().enumerate() {
        for lr in [0.5, 9.0] {
            let mut s = spec(data, layout, lr);
            s.batch = batch;
            s.sample_order = order;
            s.targets = targets;
            s.hidden = hidden;
            s.batch_norm = bn;
            s.max_epochs = 400;
            let t = Trainer::new(s).unwrap();
            let seeds: Vec<u64> = (0..37).map(|r| replicate_seed(100 + i as u64, r)).collect();
            let mut base = vec![None; seeds.len()];
            dispatch::run_baseline(&t, &seeds, |k, r| base[k] = Some(r));
            for level in ["avx2", "avx512"] {
                let mut v = vec![None; seeds.len()];
                if dispatch::run_level(level, &t, &seeds, &mut |k, r| v[k] = Some(r)) {
                    assert_eq!(v, base, "{layout} on {data}, lr {lr}, {level}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stationary runs: completed at their fixed point with the bits of training to max_epochs.

#[test]
fn stationary_runs_complete_with_the_bits_of_max_epochs() {
    use super::train::STATIONARY_STOPS;
    // (data, layout, lr, batch, batch norm, momentum, binary targets)
    let cells: [(&str, &str, f64, Batch, bool, f64, bool); 9] = [
        ("four", "relu-relu", 0.9, Batch::Full, true, 0.0, false),
        ("four", "relu-relu", 0.5, Batch::Full, false, 0.0, false),
        ("five", "relu-relu", 0.5, Batch::Online, false, 0.0, false),
        ("four", "relu-sigmoid", 0.9, Batch::Full, false, 0.0, false),
        ("four", "relu-relu", 0.5, Batch::Full, false, 0.9, false),
        ("four", "relu-relu", 0.5, Batch::Size(2), true, 0.0, false),
        ("five", "relu-relu", 0.5, Batch::Online, false, 0.0, true),
        ("three", "relu-relu-relu", 0.5, Batch::Full, true, 0.0, false),
        ("two", "relu-relu", 0.9, Batch::Full, false, 0.0, false),
    ];
    let seeds: Vec<u64> = (0..96).map(|r| replicate_seed(31, r)).collect();
    let mut stopped_somewhere = 0;
    for (data, layout, lr, batch, bn, momentum, binary) in cells {
        let mut s = spec(data, layout, lr);
        s.batch = batch;
        s.batch_norm = bn;
        s.momentum = momentum;
        s.max_epochs = 700;
        if binary {
            s.targets = "binary".parse().unwrap();
        }
        let on = Trainer::new(s.clone()).unwrap();
        let mut off = on.clone();
        off.disable_stationary_stop();
        let before = STATIONARY_STOPS.with(|c| c.get());
        let fast = results(&on, &seeds);
        let stops = STATIONARY_STOPS.with(|c| c.get()) - before;
        let slow = results(&off, &seeds);
        assert_eq!(STATIONARY_STOPS.with(|c| c.get()) - before, stops, "off means off");
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            assert_eq!(a, b, "{data} {layout} lr {lr} {batch} bn {bn} momentum {momentum}: seed #{i}");
        }
        // The one-lane generic path, with the stop, agrees too.
        for (i, &seed) in seeds.iter().enumerate().take(24) {
            assert_eq!(on.run(seed), slow[i], "{data} {layout} {batch}: scalar seed #{i}");
        }
        stopped_somewhere += usize::from(stops > 0);
        if bn && batch == Batch::Full && layout == "relu-relu" {
            assert!(stops > 10, "the batch-norm relu-relu cell reaches fixed points: {stops}");
        }
    }
    assert!(stopped_somewhere >= 5, "fixed points reached in {stopped_somewhere} of 9 cells");

    // Shuffled order: never stopped (an epoch depends on the shuffle stream too).
    let mut s = spec("four", "relu-relu", 0.9);
    s.batch = Batch::Full;
    s.batch_norm = true;
    s.max_epochs = 700;
    s.sample_order = "shuffled".parse().unwrap();
    let t = Trainer::new(s).unwrap();
    let before = STATIONARY_STOPS.with(|c| c.get());
    results(&t, &seeds);
    assert_eq!(STATIONARY_STOPS.with(|c| c.get()), before);
}
