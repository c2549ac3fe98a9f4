//! Anytime-valid confidence sequences for a Bernoulli rate, for sequential stopping
//! (`initgrid ask`, adaptive seeds): look at the data after every batch, stop when the interval
//! is narrow enough, and still keep the stated coverage.
//!
//! # Method: the conjugate Beta–Binomial mixture martingale
//!
//! For i.i.d. Bernoulli(p) outcomes with k successes in the first n, and a Beta(a, b) mixing
//! distribution, the likelihood ratio of the mixture against the point p,
//!
//! ```text
//! M_n(p) = [B(a + k, b + n − k) / B(a, b)] / [p^k (1 − p)^(n − k)],
//! ```
//!
//! is a nonnegative martingale with M_0 = 1 under p. By Ville's inequality
//! P_p(∃ n: M_n(p) ≥ 1/α) ≤ α, so
//!
//! ```text
//! C_n = { p : M_n(p) < 1/α }
//! ```
//!
//! covers the true p at all n simultaneously with probability ≥ 1 − α; in particular at any
//! stopping time, however the decision to stop depends on the data. Sources: Robbins (1970),
//! "Statistical methods related to the law of the iterated logarithm", *Ann. Math. Statist.*
//! 41:1397–1409 (mixture martingales); Howard, Ramdas, McAuliffe & Sekhon (2021), "Time-uniform,
//! nonparametric, nonasymptotic confidence sequences", *Ann. Statist.* 49(2):1055–1080, §3
//! (the conjugate mixture boundaries; the Beta–Binomial one is their discrete mixture for
//! Bernoulli observations).
//!
//! ln M_n(p) = const − k ln p − (n − k) ln(1 − p) is convex in p, so C_n is an interval; it
//! always contains p̂ = k/n (the mixture likelihood never exceeds the maximised one, so
//! M_n(p̂) ≤ 1 < 1/α). Its ends are found by bisection on g(p) = ln M_n(p) + ln α, evaluated in
//! log space (`statrs::function::beta::ln_beta`); k = 0 gives lo = 0 and k = n gives hi = 1
//! exactly.
//!
//! The mixing distribution is Jeffreys' Beta(½, ½) by default: its density grows towards 0 and 1,
//! which keeps the sequence tight for the rates near 0 % and 100 % that grids of tiny networks
//! produce all the time (e.g. k = 0 of n = 1 000 gives hi ≈ 0.0070 against 0.0099 with a
//! uniform mixture; the 95 % Wilson bound, valid only for a fixed n, is 0.0038).
//!
//! Why this and not the betting sequences of Waudby-Smith & Ramdas (2023, *JRSS-B* 86:1–27):
//! the mixture sequence depends on the data only through (k, n), so it is a pure function of
//! the counts initgrid already stores — a resumed or repeated `ask` recomputes it exactly from a
//! results directory, and batches can be evaluated in any order. Betting sequences are often
//! narrower but depend on the order of the outcomes and on a tuned betting strategy.
//!
//! Running intersection: if every C_n covers p, so does ∩_{m ≤ n} C_m; the intersection over time
//! is still a confidence sequence (Howard et al. 2021, §3) and is never wider ([`RunningIntersection`]).
//!
//! The [`simulate_coverage`] function checks the guarantee empirically against a naive rule
//! (plain Wilson recomputed at every look), for the test `tests/coverage.rs` and the example
//! `examples/coverage.rs`.

use crate::analysis::stats::{Interval, wilson};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::function::beta::ln_beta;

/// The Beta(a, b) mixing distribution of the Beta–Binomial mixture martingale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPrior {
    /// First shape parameter, > 0.
    pub a: f64,
    /// Second shape parameter, > 0.
    pub b: f64,
}

impl BetaPrior {
    /// Jeffreys' Beta(½, ½), the default.
    pub const JEFFREYS: BetaPrior = BetaPrior { a: 0.5, b: 0.5 };
    /// The uniform Beta(1, 1).
    pub const UNIFORM: BetaPrior = BetaPrior { a: 1.0, b: 1.0 };
}

/// Panics unless `0 < confidence < 1`; returns ln α = ln(1 − confidence).
fn ln_alpha(confidence: f64) -> f64 {
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence level must lie strictly between 0 and 1, got {confidence}"
    );
    (1.0 - confidence).ln()
}

/// ln of the mixture's marginal likelihood, ln B(a + k, b + n − k) − ln B(a, b).
fn ln_mixture(k: u64, n: u64, prior: BetaPrior) -> f64 {
    assert!(k <= n, "confidence sequence: k = {k} successes exceeds n = {n} trials");
    assert!(prior.a > 0.0 && prior.b > 0.0, "Beta prior needs a, b > 0: {prior:?}");
    let (kf, nf) = (k as f64, n as f64);
    ln_beta(prior.a + kf, prior.b + nf - kf) - ln_beta(prior.a, prior.b)
}

/// The boundary function g(p) = ln M_n(p) − ln(1/α); the sequence is {p : g(p) < 0}.
#[derive(Debug, Clone, Copy)]
struct Boundary {
    /// ln B(a + k, b + n − k) − ln B(a, b) + ln α.
    c: f64,
    k: f64,
    n_minus_k: f64,
}

impl Boundary {
    fn g(&self, p: f64) -> f64 {
        // 0 · ln 0 = 0 at the edges.
        let s = if self.k > 0.0 { self.k * p.ln() } else { 0.0 };
        let f = if self.n_minus_k > 0.0 { self.n_minus_k * (-p).ln_1p() } else { 0.0 };
        self.c - s - f
    }

    /// The end of {g < 0} between `inside` (g < 0) and `outside` (g ≥ 0), by bisection until
    /// the bracket is a few ulps wide; returns the outside end (conservative: the returned
    /// interval contains the whole sequence).
    fn root(&self, mut inside: f64, mut outside: f64) -> f64 {
        for _ in 0..2000 {
            let mid = 0.5 * (inside + outside);
            if mid == inside || mid == outside || (outside - inside).abs() <= 2.0 * f64::EPSILON * mid {
                break;
            }
            if self.g(mid) < 0.0 {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        outside
    }
}

/// ln M_n(p), the log of the Beta–Binomial mixture martingale at p after k successes in n
/// trials (an e-value for H₀: rate = p; `cs_interval` is {p : ln M_n(p) < ln(1/α)}).
///
/// # Panics
/// If `k > n`, p is outside [0, 1], or a prior parameter is not positive.
pub fn log_martingale(k: u64, n: u64, p: f64, prior: BetaPrior) -> f64 {
    assert!((0.0..=1.0).contains(&p), "log_martingale: p = {p} outside [0, 1]");
    let b = Boundary {
        c: ln_mixture(k, n, prior),
        k: k as f64,
        n_minus_k: (n - k) as f64,
    };
    b.g(p)
}

/// The anytime-valid confidence sequence for a Bernoulli rate at k successes in n trials, with
/// the default Jeffreys mixture: `cs_interval_with_prior(k, n, confidence, BetaPrior::JEFFREYS)`.
///
/// With `confidence` = [`crate::analysis::stats::CONFIDENCE`] the sequence covers the rate at every n at
/// once with probability ≥ 95 %, so it may be recomputed after every batch and used to stop.
///
/// # Panics
/// If `k > n` or `confidence` is not strictly between 0 and 1.
pub fn cs_interval(k: u64, n: u64, confidence: f64) -> Interval {
    cs_interval_with_prior(k, n, confidence, BetaPrior::JEFFREYS)
}

/// The Beta–Binomial mixture confidence sequence {p : M_n(p) < 1/α}, α = 1 − `confidence`
/// (module docs). n = 0 gives [0, 1]; k = 0 gives lo = 0 and k = n gives hi = 1 exactly. The ends
/// are the outer ends of a bisection bracket a few ulps wide, so the returned interval contains
/// the exact set.
///
/// # Panics
/// If `k > n`, `confidence` is not strictly between 0 and 1, or a prior parameter is not
/// positive.
pub fn cs_interval_with_prior(k: u64, n: u64, confidence: f64, prior: BetaPrior) -> Interval {
    let la = ln_alpha(confidence);
    let bnd = Boundary {
        c: ln_mixture(k, n, prior) + la,
        k: k as f64,
        n_minus_k: (n - k) as f64,
    };
    if n == 0 {
        return Interval { lo: 0.0, hi: 1.0 };
    }
    let p_hat = k as f64 / n as f64;
    debug_assert!(bnd.g(p_hat) < 0.0, "p̂ must lie inside the sequence");
    let lo = if k == 0 { 0.0 } else { bnd.root(p_hat, 0.0) };
    let hi = if k == n { 1.0 } else { bnd.root(p_hat, 1.0) };
    Interval { lo, hi }
}

/// Whether the sequence at (k, n) lies within p̂ ± `precision`, without finding its ends: by
/// convexity of g, lo ≥ p̂ − P ⟺ p̂ − P ≤ 0 or g(p̂ − P) ≥ 0, and likewise for hi. Same answer
/// as `precise_enough(k/n, cs_interval_with_prior(k, n, ..), precision)` except within
/// rounding of the boundary; used where the rule is checked after every single outcome.
///
/// # Panics
/// As [`cs_interval_with_prior`].
pub fn cs_precise_enough(k: u64, n: u64, confidence: f64, prior: BetaPrior, precision: f64) -> bool {
    if n == 0 {
        return precise_enough(f64::NAN, Interval { lo: 0.0, hi: 1.0 }, precision);
    }
    let bnd = Boundary {
        c: ln_mixture(k, n, prior) + ln_alpha(confidence),
        k: k as f64,
        n_minus_k: (n - k) as f64,
    };
    let p_hat = k as f64 / n as f64;
    let (left, right) = (p_hat - precision, p_hat + precision);
    // k = 0 pins lo = 0 = p̂; p̂ − P ≤ 0 ≤ lo needs no check either (and mirrored for hi).
    let lo_ok = k == 0 || left <= 0.0 || bnd.g(left) >= 0.0;
    let hi_ok = k == n || right >= 1.0 || bnd.g(right) >= 0.0;
    lo_ok && hi_ok
}

/// Half-width of an interval around an estimate: max(rate − lo, hi − rate). NaN rate → +∞.
pub fn half_width(rate: f64, ci: Interval) -> f64 {
    if rate.is_nan() {
        return f64::INFINITY;
    }
    (rate - ci.lo).max(ci.hi - rate)
}

/// The stopping rule: the interval lies within ±`precision` of the estimate,
/// i.e. [`half_width`]`(rate, ci) <= precision`.
pub fn precise_enough(rate: f64, ci: Interval, precision: f64) -> bool {
    half_width(rate, ci) <= precision
}

/// Intersection of two intervals, `None` when they are disjoint.
pub fn intersect(a: Interval, b: Interval) -> Option<Interval> {
    let lo = a.lo.max(b.lo);
    let hi = a.hi.min(b.hi);
    (lo <= hi).then_some(Interval { lo, hi })
}

/// The running intersection ∩_{m ≤ n} C_m of a confidence sequence, itself a confidence sequence
/// at the same level (every C_m covers p on the same event of probability ≥ 1 − α).
///
/// Feed it the sequence's interval at every look, in order. An empty intersection can only
/// happen on the miscoverage event (probability ≤ α); it is reported as `None` and stays empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningIntersection {
    current: Option<Interval>,
}

impl Default for RunningIntersection {
    fn default() -> Self {
        Self::new()
    }
}

impl RunningIntersection {
    /// Starts from the uninformative [0, 1].
    pub fn new() -> Self {
        RunningIntersection {
            current: Some(Interval { lo: 0.0, hi: 1.0 }),
        }
    }

    /// Intersects with the next interval and returns the running intersection.
    pub fn update(&mut self, ci: Interval) -> Option<Interval> {
        self.current = self.current.and_then(|c| intersect(c, ci));
        self.current
    }

    /// The running intersection so far (`None` once it has become empty).
    pub fn current(&self) -> Option<Interval> {
        self.current
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage simulation
// ---------------------------------------------------------------------------------------------

/// When a sequential rule looks at the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Looks {
    /// Growing batches, as `ask` trains them: first look at n = `first`, then n ← ⌈n·`ratio`⌉
    /// (`ratio` = 2: 100, 200, 400, …), always with a final look at `max_n`.
    Geometric {
        /// Seeds in the first batch.
        first: u64,
        /// Growth factor of the cumulative n (> 1).
        ratio: f64,
    },
    /// Continuous monitoring: a look after every single outcome from n = `min_n` on.
    EverySeed {
        /// First look.
        min_n: u64,
    },
}

impl Looks {
    /// The next look after n (the first look when n = 0), capped at `max_n`.
    fn next(&self, n: u64, max_n: u64) -> u64 {
        let next = match *self {
            Looks::Geometric { first, ratio } => {
                if n == 0 {
                    first.max(1)
                } else {
                    ((n as f64 * ratio).ceil() as u64).max(n + 1)
                }
            }
            Looks::EverySeed { min_n } => {
                if n < min_n {
                    min_n.max(1)
                } else {
                    n + 1
                }
            }
        };
        next.min(max_n)
    }
}

/// One setting of the coverage simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageSetting {
    /// True Bernoulli rate.
    pub p: f64,
    /// Stop when the interval lies within ±`precision` of p̂.
    pub precision: f64,
    /// When the rules look at the data.
    pub looks: Looks,
    /// Stop at this n regardless.
    pub max_n: u64,
    /// Number of simulated streams.
    pub streams: u64,
    /// Base seed; stream i uses ChaCha8 seeded with `seed + i`.
    pub seed: u64,
    /// Nominal confidence of both rules.
    pub confidence: f64,
}

/// Outcome of one rule over all streams of a [`CoverageSetting`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleCoverage {
    /// Fraction of streams whose interval at the stopping time contains the true p.
    pub coverage: f64,
    /// Mean n at the stopping time.
    pub mean_n: f64,
    /// Fraction of streams that reached `max_n` without being precise enough.
    pub at_max: f64,
}

/// Result of [`simulate_coverage`]: the confidence sequence and the naive rule on the same
/// streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageResult {
    /// The simulated setting.
    pub setting: CoverageSetting,
    /// Stopping with the Jeffreys-mixture confidence sequence ([`cs_interval`]).
    pub cs: RuleCoverage,
    /// Stopping with plain Wilson recomputed at every look (not anytime-valid).
    pub naive: RuleCoverage,
}

impl CoverageResult {
    /// Monte-Carlo standard error of a coverage estimate at the nominal level:
    /// √(c(1 − c)/streams) with c = confidence.
    pub fn mc_se(&self) -> f64 {
        let c = self.setting.confidence;
        (c * (1.0 - c) / self.setting.streams as f64).sqrt()
    }
}

/// Simulates `streams` i.i.d. Bernoulli(`p`) streams (seeded ChaCha8, reproducible bit for bit)
/// and, on each, two sequential rules that look at the data at the same times and stop as soon
/// as their 95 % interval lies within ±`precision` (or at `max_n`):
///
/// * the confidence sequence [`cs_interval`] (stopping test [`cs_precise_enough`], equivalent to
///   [`precise_enough`] on the interval, without root finding);
/// * the naive rule: plain Wilson ([`crate::analysis::stats::wilson`]) at each look, as if n were fixed.
///
/// Records, for each rule, whether the interval at its stopping time contains `p`, and the n used.
///
/// # Panics
/// If `p` is outside [0, 1], `max_n == 0`, or a geometric ratio is not > 1.
pub fn simulate_coverage(s: &CoverageSetting) -> CoverageResult {
    assert!((0.0..=1.0).contains(&s.p), "p = {} outside [0, 1]", s.p);
    assert!(s.max_n > 0, "max_n must be positive");
    if let Looks::Geometric { ratio, .. } = s.looks {
        assert!(ratio > 1.0, "geometric looks need ratio > 1, got {ratio}");
    }
    let prior = BetaPrior::JEFFREYS;
    let (mut cs_cov, mut cs_n, mut cs_max) = (0u64, 0u64, 0u64);
    let (mut nv_cov, mut nv_n, mut nv_max) = (0u64, 0u64, 0u64);
    for i in 0..s.streams {
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed.wrapping_add(i));
        let (mut k, mut n) = (0u64, 0u64);
        let mut cs_stop: Option<(u64, u64)> = None;
        let mut nv_stop: Option<(u64, u64)> = None;
        while cs_stop.is_none() || nv_stop.is_none() {
            let look = s.looks.next(n, s.max_n);
            while n < look {
                k += u64::from(rng.random::<f64>() < s.p);
                n += 1;
            }
            let p_hat = k as f64 / n as f64;
            if nv_stop.is_none() && (n == s.max_n || precise_enough(p_hat, wilson(k, n, s.confidence), s.precision)) {
                nv_stop = Some((k, n));
            }
            if cs_stop.is_none() && (n == s.max_n || cs_precise_enough(k, n, s.confidence, prior, s.precision)) {
                cs_stop = Some((k, n));
            }
        }
        let (k, n) = cs_stop.expect("loop ends when both stopped");
        let ci = cs_interval_with_prior(k, n, s.confidence, prior);
        cs_cov += u64::from(ci.lo <= s.p && s.p <= ci.hi);
        cs_n += n;
        cs_max += u64::from(n == s.max_n && !precise_enough(k as f64 / n as f64, ci, s.precision));
        let (k, n) = nv_stop.expect("loop ends when both stopped");
        let ci = wilson(k, n, s.confidence);
        nv_cov += u64::from(ci.lo <= s.p && s.p <= ci.hi);
        nv_n += n;
        nv_max += u64::from(n == s.max_n && !precise_enough(k as f64 / n as f64, ci, s.precision));
    }
    let m = s.streams.max(1) as f64;
    let rule = |cov: u64, n: u64, at_max: u64| RuleCoverage {
        coverage: cov as f64 / m,
        mean_n: n as f64 / m,
        at_max: at_max as f64 / m,
    };
    CoverageResult {
        setting: *s,
        cs: rule(cs_cov, cs_n, cs_max),
        naive: rule(nv_cov, nv_n, nv_max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::CONFIDENCE;
    use proptest::prelude::*;

    fn assert_abs(actual: f64, expected: f64, tol: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tol,
            "{what}: got {actual:e}, expected {expected:e} (|diff| = {:e} > {tol:e})",
            (actual - expected).abs()
        );
    }

    #[test]
    fn cs_matches_scipy_root_finding() {
        // Reference: the same set solved with scipy's brentq at xtol 1e-15,
        //   import numpy as np
        //   from scipy.special import betaln
        //   from scipy.optimize import brentq
        //   def cs(k, n, a=0.5, b=0.5, alpha=0.05):
        //       c = betaln(a+k, b+n-k) - betaln(a, b) + np.log(alpha)
        //       g = lambda p: c - (k*np.log(p) if k else 0) - ((n-k)*np.log1p(-p) if n-k else 0)
        //       ph = k/n
        //       lo = 0.0 if k == 0 else brentq(g, 1e-300, ph, xtol=1e-15, rtol=4.5e-16)
        //       hi = 1.0 if k == n else brentq(g, ph, 1-1e-16, xtol=1e-15, rtol=4.5e-16)
        //       return lo, hi
        for (k, n, lo, hi) in REFERENCE {
            let ci = cs_interval(k, n, CONFIDENCE);
            // Absolute 1e-9, and relative 1e-9 for the tiny bounds.
            assert_abs(ci.lo, lo, 1e-9 * lo.max(1e-3), &format!("lo {k}/{n}"));
            assert_abs(ci.hi, hi, 1e-9 * hi.max(1e-3), &format!("hi {k}/{n}"));
        }
    }
    /// Output of the snippet above for these (k, n): `print((k, n) + cs(k, n))`.
    const REFERENCE: [(u64, u64, f64, f64); 12] = [
        (1, 10, 0.0004656240743906148, 0.5440086761068236),
        (3, 10, 0.03251513978805885, 0.7475871099149966),
        (0, 50, 0.0, 0.10464247710451556),
        (7, 50, 0.03233689489055596, 0.3403466764067343),
        (81, 263, 0.2160985795779216, 0.4114062553590394),
        (15, 148, 0.037732662539286844, 0.2049031031388366),
        (500, 1000, 0.44241838567662517, 0.557581614323375),
        (30, 10000, 0.001321214108243596, 0.005709874153579386),
        (2, 100000, 8.213262226705283e-08, 0.0001503171921818544),
        (49000, 100000, 0.4833028419284437, 0.4966995520729472),
        (1, 1, 0.025000000000000015, 1.0),
        (999, 1000, 0.9900252527352501, 0.9999995536025952),
    ];

    #[test]
    fn cs_edges() {
        assert_eq!(cs_interval(0, 0, CONFIDENCE), Interval { lo: 0.0, hi: 1.0 });
        let ci = cs_interval(0, 1000, CONFIDENCE);
        assert_eq!(ci.lo, 0.0);
        // k = 0: g(p) = ln B(½, n+½) − ln π + ln α − n ln(1 − p) = 0 in closed form.
        let c = ln_beta(0.5, 1000.5) - std::f64::consts::PI.ln() + 0.05f64.ln();
        let hi = -(c / 1000.0).exp_m1();
        assert_abs(ci.hi, hi, 1e-14, "k = 0 closed form");
        let ci = cs_interval(1000, 1000, CONFIDENCE);
        assert_eq!(ci.hi, 1.0);
        assert_abs(ci.lo, 1.0 - hi, 1e-14, "k = n mirror");
    }

    #[test]
    fn cs_is_wider_than_fixed_n_wilson_and_shrinks() {
        let mut last = 1.0;
        for n in [10u64, 100, 1000, 10_000, 100_000] {
            let k = n * 3 / 10;
            let cs = cs_interval(k, n, CONFIDENCE);
            let w = wilson(k, n, CONFIDENCE);
            assert!(cs.lo < w.lo && cs.hi > w.hi, "n = {n}: {cs:?} vs {w:?}");
            let width = cs.hi - cs.lo;
            assert!(width < last);
            last = width;
        }
    }

    #[test]
    fn running_intersection() {
        let mut r = RunningIntersection::new();
        let a = Interval { lo: 0.1, hi: 0.5 };
        assert_eq!(r.update(a), Some(a));
        assert_eq!(r.update(Interval { lo: 0.2, hi: 0.7 }), Some(Interval { lo: 0.2, hi: 0.5 }));
        assert_eq!(r.update(Interval { lo: 0.0, hi: 0.3 }), Some(Interval { lo: 0.2, hi: 0.3 }));
        assert_eq!(r.update(Interval { lo: 0.4, hi: 0.6 }), None);
        assert_eq!(r.update(Interval { lo: 0.0, hi: 1.0 }), None);
        assert_eq!(r.current(), None);
    }

    #[test]
    fn stopping_rule_half_width() {
        let ci = Interval { lo: 0.1, hi: 0.25 };
        assert_abs(half_width(0.2, ci), 0.1, 1e-15, "half-width");
        assert!(precise_enough(0.2, ci, 0.1 + 1e-12));
        assert!(!precise_enough(0.2, ci, 0.09));
        assert!(!precise_enough(f64::NAN, ci, 1.0));
        // k = 0: the half-width is hi.
        let ci = cs_interval(0, 500, CONFIDENCE);
        assert_eq!(half_width(0.0, ci), ci.hi);
    }

    #[test]
    fn looks_schedules() {
        let g = Looks::Geometric { first: 100, ratio: 2.0 };
        let mut n = 0;
        let mut seen = vec![];
        while n < 1000 {
            n = g.next(n, 1000);
            seen.push(n);
        }
        assert_eq!(seen, vec![100, 200, 400, 800, 1000]);
        let e = Looks::EverySeed { min_n: 5 };
        assert_eq!((e.next(0, 9), e.next(5, 9), e.next(8, 9), e.next(9, 9)), (5, 6, 9, 9));
    }

    #[test]
    fn simulation_is_reproducible() {
        let s = CoverageSetting {
            p: 0.3,
            precision: 0.1,
            looks: Looks::Geometric { first: 20, ratio: 2.0 },
            max_n: 2000,
            streams: 50,
            seed: 7,
            confidence: CONFIDENCE,
        };
        assert_eq!(simulate_coverage(&s), simulate_coverage(&s));
    }

    proptest! {
        #[test]
        fn cs_contains_p_hat_and_is_a_sub_interval(
            (k, n) in (1u64..20_000).prop_flat_map(|n| (0..=n, Just(n)))
        ) {
            let ci = cs_interval(k, n, CONFIDENCE);
            let p = k as f64 / n as f64;
            prop_assert!(0.0 <= ci.lo && ci.lo <= p && p <= ci.hi && ci.hi <= 1.0, "{ci:?}");
            // The ends are boundary points: g ≥ 0 at the returned (outer) ends, up to the rounding
            // of g itself (terms of size ~n·ε, evaluated here in a different order), and g < 0
            // just inside.
            let ln_a = (1.0 - CONFIDENCE).ln();
            let lm = |x: f64| log_martingale(k, n, x, BetaPrior::JEFFREYS) + ln_a;
            if k > 0 {
                prop_assert!(lm(ci.lo) >= -1e-12 * n as f64 && lm(ci.lo + 1e-9 * ci.lo.max(1e-3)) < 0.0);
            }
            if k < n {
                prop_assert!(lm(ci.hi) >= -1e-12 * n as f64 && lm(ci.hi - 1e-9 * ci.hi.max(1e-3)) < 0.0);
            }
        }

        #[test]
        fn cs_is_mirror_symmetric((k, n) in (1u64..5000).prop_flat_map(|n| (0..=n, Just(n)))) {
            let (a, b) = (cs_interval(k, n, CONFIDENCE), cs_interval(n - k, n, CONFIDENCE));
            prop_assert!((a.lo - (1.0 - b.hi)).abs() < 1e-12 && (a.hi - (1.0 - b.lo)).abs() < 1e-12);
        }

        #[test]
        fn cs_precise_enough_agrees_with_the_interval(
            (k, n) in (1u64..20_000).prop_flat_map(|n| (0..=n, Just(n))),
            precision in 0.001f64..0.3
        ) {
            let ci = cs_interval(k, n, CONFIDENCE);
            let p = k as f64 / n as f64;
            let hw = half_width(p, ci);
            prop_assume!((hw - precision).abs() > 1e-9);
            prop_assert_eq!(
                cs_precise_enough(k, n, CONFIDENCE, BetaPrior::JEFFREYS, precision),
                precise_enough(p, ci, precision),
                "k = {}, n = {}, ci = {:?}, hw = {}", k, n, ci, hw
            );
        }
    }
}
