//! Capacity doom: when a network with one hidden ReLU layer has too few live units left to
//! classify a 1-D data set, ever.
//!
//! # Setting
//!
//! Input x ∈ ℝ, one hidden ReLU layer of H units with pre-activations hⱼ(x) = wⱼ·x + bⱼ, and
//! an output layer with pre-activations z_c(x) = Σⱼ v_cj·relu(hⱼ(x)) + c_c. A unit is **live**
//! when hⱼ > 0 on at least one training point, **dead** otherwise. A dead unit contributes
//! exactly 0 at every training point, so at the training points every z_c equals the same sum
//! over the live units only. Every function the decision depends on below has the form
//!
//! g(x) = Σ_{j live} uⱼ·relu(wⱼ·x + bⱼ) + c     (★)
//!
//! a continuous piecewise-linear (PL) function of x. A live unit with wⱼ = 0 is constant; every
//! other live unit has one kink κⱼ = −bⱼ/wⱼ and is **flat (0) on one side of it**: an "R" unit
//! (wⱼ > 0) is active right of κⱼ with slope tⱼ = uⱼwⱼ, an "L" unit (wⱼ < 0) left of it.
//! With k live units, g has m ≤ k + 1 linear pieces.
//!
//! # The bound B(k)
//!
//! Let x₁ < … < x_p be distinct points and count the changes of the predicate P(x) = [g(x) > 0]
//! along them (this covers [g ≥ 0] too: its changes are those of [−g > 0], and −g has form ★).
//!
//! **Lemma (alternating pieces).** If P changes c times, g has c pieces with non-zero slopes of
//! strictly alternating sign, in left-to-right order. *Proof.* Take points y₀ < … < y_c at which
//! P alternates. Across [y_{t−1}, y_t], g(y_t) − g(y_{t−1}) is non-zero with the sign of the
//! change (≤0 → >0 is a rise, >0 → ≤0 a fall), and alternates with t. A PL function's increment
//! is the sum of slope × length over the pieces it crosses, so some piece i_t meeting
//! (y_{t−1}, y_t) in positive length has a slope of that sign. Pieces are ordered intervals, so
//! i_t ≤ i_{t+1}, and i_t ≠ i_{t+1} since the slopes differ in sign. ∎
//!
//! Hence c ≤ m ≤ k + 1 always. The flat sides make k = 1 and k = 2 tighter:
//!
//! * **B(0) = 0.** g is constant.
//! * **B(1) = 1.** The single unit's pieces have slopes 0 and t: one non-zero slope.
//! * **B(2) = 2.** Three alternating pieces s₀, s₁, s₂ (all ≠ 0, s₀ and s₂ of the same sign)
//!   would be needed. Left of every kink only L units are active, right of every kink only R
//!   units, so s₀ = Σ_L t and s₂ = Σ_R t. Two R units give s₀ = 0, two L units s₂ = 0. One of
//!   each: if the L kink is left of the R kink, the middle piece has no active unit, s₁ = 0;
//!   otherwise both are active there and s₁ = t_L + t_R = s₀ + s₂, of the same sign as s₀.
//!   Every case fails. (Coinciding kinks or a wⱼ = 0 unit give fewer pieces.)
//! * **B(k) = k + 1 for k ≥ 3.** The upper bound is the piece count. Reached (see
//!   [`construction`]): the slope changes at kink i by dᵢ = sᵢ − sᵢ₋₁; an R unit there has
//!   tⱼ = dᵢ, an L unit tⱼ = −dᵢ, and the only constraint is s₀ = Σ_L tⱼ = Σ_{i∈L} (sᵢ₋₁ − sᵢ).
//!   Make kink 3 the one L unit: s₂ − s₃ = s₀. With slopes 1, −1, ½, −½ and then ±1 alternating
//!   (kink positions spaced so that g swings between +1 and −1 at the kinks), g changes sign in
//!   every one of its k + 1 pieces: k + 1 sign changes over k + 2 points.
//!
//! The units needed for a data set with `a` label alternations along sorted distinct x is the
//! smallest k with B(k) ≥ a ([`units_needed`]): 0, 1, 2 for a = 0, 1, 2 and max(3, a − 1)
//! beyond (`two` 1, `three` 2, `four` 3, `five` 3). Two points at the same x with different
//! labels can never both be classified: no number of units suffices ([`Requirement::Unfittable`]).
//!
//! # Which g decides convergence
//!
//! Converged means mean loss ≤ tol **and** every sample classified correctly
//! (see `Outcome::Converged`). Per output (2 classes):
//!
//! * **One-hot, output sigmoid, tanh, leaky_relu, linear or softmax.** The predicted class is 1
//!   iff a₁ > a₀ (ties go to class 0). Each of these maps is strictly increasing in its own
//!   pre-activation (softmax: p₁/p₀ = e^{z₁−z₀}), so a₁ > a₀ ⇔ z₁ > z₀: all correct ⇒
//!   P = [z₁ − z₀ > 0] equals the label at every point, and g = z₁ − z₀ has form ★ with
//!   uⱼ = v₁ⱼ − v₀ⱼ. No condition on tol.
//! * **One-hot, output relu** (MSE). relu is not strictly increasing (two negative outputs tie),
//!   so use the loss instead: mean loss ≤ tol with per-sample losses ℓ_s = ½Σ_c(a_c − t_c)² ≥ 0
//!   gives ℓ_s ≤ n·tol for every s, hence (a₁ − t₁)² ≤ 2n·tol. **If n·tol < 1/8**, |a₁ − t₁| < ½:
//!   relu(z₁) > ½ on label 1 and < ½ on label 0, i.e. z₁ − ½ > 0 exactly on label 1, and
//!   g = z₁ − ½ has form ★. If n·tol ≥ 1/8 the rule is not applied.
//! * **Binary targets** (one output, class 1 iff a ≥ ½). For sigmoid a ≥ ½ ⇔ z ≥ 0; for tanh
//!   ⇔ z ≥ atanh ½; for linear, relu and leaky_relu ⇔ z ≥ ½ (each is < ½ below that point and
//!   increasing). So the predicate is [z − θ ≥ 0] for a constant θ: form ★. No condition on tol.
//!
//! In every case a converged network's g changes sign at least as often as the labels
//! alternate, so **live units < units needed ⇒ not converged now**.
//!
//! # Permanence: why doom is final
//!
//! A dead unit's pre-activation is ≤ 0 on every training point, so ReLU'(z) = 0 (PyTorch's
//! convention, used by the backward pass) zeroes its δ on every sample of every batch, and the
//! gradients of its incoming weights and bias are exactly 0. With **plain SGD** (momentum 0)
//! the update θ ← θ − lr·0 leaves them unchanged, so the unit stays dead on every training
//! point for ever, whatever the other parameters do: live counts only decrease, and a doomed run
//! stays doomed. This holds for any batch size and sample order, without batch norm. The
//! trainer applies the rule only then (momentum 0, no batch norm, early stopping enabled).
//! Not covered: more than one hidden layer, hidden activations other than ReLU, input
//! dimension > 1, more than 2 classes, batch norm (its statistics move with the batch; the
//! argument would extend to full-batch BN in fixed order but is not claimed here).
//!
//! # Rounding
//!
//! The bound is a theorem about exact arithmetic on the run's parameter values; the trainer
//! evaluates the network in IEEE doubles. A sign could be misjudged only where |g| is within
//! rounding error of 0, which a converged run's margins exclude for any non-astronomical
//! parameters; `no_capacity_doomed_run_ever_converges` checks the claim empirically.

use super::data::Dataset;
use super::net::NetShape;
use super::spec::{Activation, Targets};

/// B(k): the largest number of sign changes of a network (★) with `live` live ReLU units
/// over sorted distinct points (proof in the module docs).
pub const fn max_sign_changes(live: u32) -> u32 {
    match live {
        0..=2 => live,
        k => k + 1,
    }
}

/// The smallest k with B(k) ≥ `alternations`: the live units a data set needs.
pub const fn units_needed(alternations: u32) -> u32 {
    match alternations {
        0..=2 => alternations,
        a => {
            if a - 1 > 3 {
                a - 1
            } else {
                3
            }
        }
    }
}

/// What the capacity rule requires of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// At least this many live hidden units.
    Units(u32),
    /// Two points share an input but not a label: nothing can classify both.
    Unfittable,
}

impl Requirement {
    /// Threshold for the lane test `live < threshold` (`∞` when unfittable).
    pub fn threshold(self) -> f64 {
        match self {
            Requirement::Units(k) => k as f64,
            Requirement::Unfittable => f64::INFINITY,
        }
    }
}

/// Label alternations along the sorted distinct inputs of a 1-D data set, or `None` when two
/// points with the same input have different labels.
pub fn alternations_1d(inputs: &[f64], labels: &[u32]) -> Option<u32> {
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    idx.sort_by(|&a, &b| inputs[a].total_cmp(&inputs[b]));
    let mut alt = 0;
    for w in idx.windows(2) {
        let (a, b) = (w[0], w[1]);
        if labels[a] != labels[b] {
            if inputs[a] == inputs[b] {
                return None;
            }
            alt += 1;
        }
    }
    Some(alt)
}

/// The capacity requirement for a network `shape` on data `d`, or `None` when the proof does
/// not cover the network (module docs, "Which g decides convergence"). Permanence (plain SGD,
/// no batch norm) is the trainer's to check.
pub fn requirement(d: &Dataset, shape: &NetShape, targets: Targets, tol: f64) -> Option<Requirement> {
    if d.dim != 1 || shape.layers.len() != 2 || shape.layers[0].activation != Activation::Relu {
        return None;
    }
    let out = shape.layers[1].activation;
    let covered = match (targets, shape.output_units()) {
        (Targets::Binary, 1) => d.classes == 2,
        (Targets::Onehot, 2) => match out {
            Activation::Relu => (d.len() as f64) * tol < 0.125,
            _ => true,
        },
        _ => false,
    };
    if !covered {
        return None;
    }
    Some(match alternations_1d(&d.inputs, &d.labels) {
        Some(a) => Requirement::Units(units_needed(a)),
        None => Requirement::Unfittable,
    })
}

/// Changes of the predicate `v > 0` along `values` (in order).
pub fn sign_changes(values: &[f64]) -> u32 {
    values.windows(2).filter(|w| (w[0] > 0.0) != (w[1] > 0.0)).count() as u32
}

/// One live unit of (★): u·relu(w·x + b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub w: f64,
    pub b: f64,
    pub u: f64,
}

/// g(x) = Σ u·relu(w·x + b) + c.
pub fn eval(units: &[Unit], c: f64, x: f64) -> f64 {
    units.iter().map(|n| n.u * (n.w * x + n.b).max(0.0)).sum::<f64>() + c
}

/// A network (★) with `k` units and points at which it makes B(k) sign changes (module docs).
pub fn construction(k: u32) -> (Vec<Unit>, f64, Vec<f64>) {
    match k {
        0 => (Vec::new(), 1.0, vec![0.0]),
        // relu(x) − ½ at 0, 1.
        1 => (vec![Unit { w: 1.0, b: 0.0, u: 1.0 }], -0.5, vec![0.0, 1.0]),
        // |x| − ½ = relu(x) + relu(−x) − ½ at −1, 0, 1.
        2 => (
            vec![Unit { w: 1.0, b: 0.0, u: 1.0 }, Unit { w: -1.0, b: 0.0, u: 1.0 }],
            -0.5,
            vec![-1.0, 0.0, 1.0],
        ),
        _ => {
            let k = k as usize;
            // Piece slopes s₀..s_k: 1, −1, ½, −½, then ±1 alternating.
            let s: Vec<f64> = (0..=k)
                .map(|i| {
                    let m = if i == 2 || i == 3 { 0.5 } else { 1.0 };
                    if i % 2 == 0 { m } else { -m }
                })
                .collect();
            // Kinks κ₁..κ_k with g(κᵢ) = +1 for odd i, −1 for even i: piece i spans 2/|sᵢ|.
            let mut kappa = vec![0.0; k + 1];
            for i in 2..=k {
                kappa[i] = kappa[i - 1] + 2.0 / s[i - 1].abs();
            }
            let units: Vec<Unit> = (1..=k)
                .map(|i| {
                    let d = s[i] - s[i - 1];
                    // Kink 3 is the L unit (w = −1: active left of κ), the others R units.
                    let w = if i == 3 { -1.0 } else { 1.0 };
                    Unit { w, b: -w * kappa[i], u: d }
                })
                .collect();
            // Fix c so that g(κ₁) = 1.
            let c = 1.0 - eval(&units, 0.0, kappa[1]);
            let mut pts = vec![kappa[1] - 2.0 / s[0].abs()];
            pts.extend_from_slice(&kappa[1..]);
            pts.push(kappa[k] + 2.0 / s[k].abs());
            (units, c, pts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn bound_and_needs() {
        let b: Vec<u32> = (0..7).map(max_sign_changes).collect();
        assert_eq!(b, [0, 1, 2, 4, 5, 6, 7]);
        let n: Vec<u32> = (0..8).map(units_needed).collect();
        assert_eq!(n, [0, 1, 2, 3, 3, 4, 5, 6]);
        for a in 0..50 {
            let k = units_needed(a);
            assert!(max_sign_changes(k) >= a);
            assert!(k == 0 || max_sign_changes(k - 1) < a, "{a}");
        }
        for (name, need) in [("two", 1), ("three", 2), ("four", 3), ("five", 3)] {
            let d = Dataset::preset(name).unwrap();
            let a = alternations_1d(&d.inputs, &d.labels).unwrap();
            assert_eq!(units_needed(a), need, "{name}");
        }
    }

    #[test]
    fn alternations_sort_and_detect_contradictions() {
        assert_eq!(alternations_1d(&[1.0, 0.0, 0.5], &[0, 0, 1]), Some(2));
        assert_eq!(alternations_1d(&[0.0, 0.0, 1.0], &[1, 1, 0]), Some(1));
        assert_eq!(alternations_1d(&[0.0, 1.0, 0.0], &[1, 0, 0]), None);
        assert_eq!(alternations_1d(&[-0.0, 0.0], &[1, 0]), None);
        assert_eq!(alternations_1d(&[3.0], &[1]), Some(0));
    }

    #[test]
    fn constructions_reach_the_bound() {
        for k in 0..=7u32 {
            let (units, c, pts) = construction(k);
            assert_eq!(units.len(), k as usize);
            assert!(pts.windows(2).all(|w| w[0] < w[1]), "k={k}: {pts:?}");
            let vals: Vec<f64> = pts.iter().map(|&x| eval(&units, c, x)).collect();
            assert_eq!(sign_changes(&vals), max_sign_changes(k), "k={k}: {vals:?}");
            // Every unit is live on the points.
            for n in &units {
                assert!(pts.iter().any(|&x| n.w * x + n.b > 0.0), "k={k}");
            }
        }
    }

    /// Random networks (★) with k units never exceed B(k) sign changes on a fine grid, for both
    /// predicates g > 0 and g ≥ 0. Half the networks are drawn on a coarse lattice so that exact
    /// zeros, flat zero pieces and coinciding kinks occur too.
    #[test]
    fn random_networks_never_exceed_the_bound() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        // Dyadic grid and half-integer lattice values: then every product and sum below is
        // exact in f64, so an exactly-zero piece (which the lattice produces) evaluates to 0
        // and not to rounding noise that would flicker around it.
        let grid: Vec<f64> = (0..=256).map(|i| -2.0 + i as f64 / 64.0).collect();
        let mut reached = [0u32; 6];
        for k in 1..=5u32 {
            for _ in 0..20_000 {
                let lattice = rng.random::<bool>();
                let draw = |r: &mut ChaCha8Rng| {
                    if lattice {
                        r.random_range(-4i32..=4) as f64 * 0.5
                    } else {
                        r.random_range(-3.0..3.0)
                    }
                };
                let units: Vec<Unit> = (0..k)
                    .map(|_| Unit {
                        w: draw(&mut rng),
                        b: draw(&mut rng),
                        u: draw(&mut rng),
                    })
                    .collect();
                let c = draw(&mut rng);
                let vals: Vec<f64> = grid.iter().map(|&x| eval(&units, c, x)).collect();
                let neg: Vec<f64> = vals.iter().map(|v| -v).collect();
                let ch = sign_changes(&vals).max(sign_changes(&neg));
                assert!(ch <= max_sign_changes(k), "k={k}: {ch} changes for {units:?} c={c}");
                reached[k as usize] = reached[k as usize].max(ch);
            }
        }
        // The random search itself finds the tight cases for k ≤ 2 (a failing bound would not).
        assert_eq!(&reached[1..3], &[1, 2]);
    }

    #[test]
    fn coverage() {
        use super::super::spec::Activation::*;
        let four = Dataset::preset("four").unwrap();
        let sh = |acts: &[Activation], outs: usize| {
            let mut w = vec![4; acts.len() - 1];
            w.push(outs);
            NetShape::new(four.dim, &w, acts, false)
        };
        let on = Targets::Onehot;
        assert_eq!(requirement(&four, &sh(&[Relu, Sigmoid], 2), on, 0.01), Some(Requirement::Units(3)));
        assert_eq!(requirement(&four, &sh(&[Relu, Relu], 2), on, 0.01), Some(Requirement::Units(3)));
        // relu output: only when n·tol < 1/8.
        assert_eq!(requirement(&four, &sh(&[Relu, Relu], 2), on, 0.05), None);
        assert_eq!(
            requirement(&four, &sh(&[Relu, Relu], 1), Targets::Binary, 0.5),
            Some(Requirement::Units(3))
        );
        assert_eq!(requirement(&four, &sh(&[Tanh, Sigmoid], 2), on, 0.01), None);
        assert_eq!(requirement(&four, &sh(&[Relu, Relu, Sigmoid], 2), on, 0.01), None);
        let xor = Dataset::preset("xor").unwrap();
        let s = NetShape::new(2, &[4, 2], &[Relu, Sigmoid], false);
        assert_eq!(requirement(&xor, &s, on, 0.01), None);
        let dup = Dataset::from_rows("d", &[vec![0.0, 0.0], vec![0.0, 1.0]], None).unwrap();
        assert_eq!(requirement(&dup, &sh(&[Relu, Softmax], 2), on, 0.01), Some(Requirement::Unfittable));
    }
}
