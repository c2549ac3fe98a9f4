//! Seed-clustered inference for statistics pooled over several cells.
//!
//! Replicate r uses the same seed in every cell (common random numbers), so when a rate or a
//! paired comparison is pooled over cells, the outcomes of one seed are not independent of each
//! other: the seed, not the (cell, seed) run, is the independent unit. Pooling C cells of S seeds
//! gives n = C·S outcomes but only S independent clusters. This module treats seeds as clusters:
//!
//! * [`clustered_mcnemar`] — the clustered McNemar test of Durkalski, Palesch, Lipsitz & Rust
//!   (2003) for pooled paired comparisons;
//! * [`clustered_paired_difference`] — a cluster-robust (ratio-estimator / sandwich) interval for
//!   the pooled difference of two paired rates;
//! * [`clustered_rate`] — a design-effect-adjusted Wilson interval for a pooled rate.
//!
//! All are pure functions of per-seed counts. With one outcome (or one pair) per seed each
//! reduces to its unclustered counterpart in [`crate::analysis::stats`] (McNemar's uncorrected χ², the
//! Wald interval for a paired difference with the sample variance, plain Wilson); the tests
//! check these reductions. Reference values in the tests were computed with numpy 2.x, scipy
//! 1.x and statsmodels 0.14+ (snippets next to each test).

use crate::analysis::stats::{Interval, z_for};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The discordant and total pair counts of one seed, summed over the pooled cells.
///
/// For a comparison of condition A against condition B, each pooled cell contributes one pair
/// (outcome under A, outcome under B) per seed. `only_a` counts the pairs of this seed where only
/// A succeeded (A = 1, B = 0), `only_b` those where only B succeeded, and `pairs` all pairs of
/// this seed (concordant ones included), so `only_a + only_b <= pairs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeedPairs {
    /// Pairs where only A succeeded (b_r).
    pub only_a: u64,
    /// Pairs where only B succeeded (c_r).
    pub only_b: u64,
    /// All pairs of this seed over the pooled cells (m_r).
    pub pairs: u64,
}

impl SeedPairs {
    /// Counts of one seed from its (outcome under A, outcome under B) pairs over the cells.
    pub fn from_pairs(pairs: &[(bool, bool)]) -> Self {
        let mut s = SeedPairs::default();
        for &(a, b) in pairs {
            s.pairs += 1;
            match (a, b) {
                (true, false) => s.only_a += 1,
                (false, true) => s.only_b += 1,
                _ => {}
            }
        }
        s
    }

    /// b_r − c_r, the seed's contribution to Σ(A) − Σ(B).
    fn diff(&self) -> f64 {
        self.only_a as f64 - self.only_b as f64
    }
}

/// Result of [`clustered_mcnemar`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusteredMcNemar {
    /// Σ_r b_r: pairs where only A succeeded.
    pub b: u64,
    /// Σ_r c_r: pairs where only B succeeded.
    pub c: u64,
    /// Number of seeds (clusters) behind the test, including seeds without discordant pairs.
    pub seeds: u64,
    /// Number of pairs, Σ_r m_r.
    pub pairs: u64,
    /// χ² = (Σ_r (b_r − c_r))² / Σ_r (b_r − c_r)², on 1 degree of freedom.
    pub chi2: f64,
    /// Two-sided p-value P(χ²₁ ≥ chi2).
    pub p: f64,
}

/// The clustered McNemar test of marginal homogeneity, seeds as clusters.
///
/// With b_r and c_r the discordant pairs (only A / only B succeeded) of seed r, summed over the
/// pooled cells, and d_r = b_r − c_r:
///
/// ```text
/// χ² = (Σ_r d_r)² / Σ_r d_r²,     p = P(χ²₁ ≥ χ²)
/// ```
///
/// Under H₀ (P(only A) = P(only B) in every cell) E d_r = 0 and the seeds are independent, so
/// Σ_r d_r / √(Σ_r d_r²) is asymptotically standard normal as the number of seeds grows, whatever
/// the dependence between the cells of one seed. Source: Durkalski, Palesch, Lipsitz & Rust
/// (2003), "Analysis of clustered matched-pair data", *Stat. Med.* 22(15):2417–2428,
/// doi:10.1002/sim.1438 (the same statistic as `clust.bin.pair(method = "durkalski")` in R and
/// htestClust's `mcnemartestClust(variance = "MoM")`). When every seed contributes exactly one
/// pair, d_r ∈ {−1, 0, 1}, so Σ d_r = b − c and Σ d_r² = b + c: the statistic is McNemar's
/// uncorrected (b − c)²/(b + c) ([`crate::analysis::stats::mcnemar`]'s `chi2`).
///
/// Degenerate cases: Σ_r d_r² = 0 means every seed has b_r = c_r (in particular, no discordant
/// pairs at all); then Σ_r d_r = 0 too, there is no evidence of a difference, and the result is
/// χ² = 0, p = 1 (the same convention as `stats::mcnemar` for b + c = 0).
///
/// The χ²₁ survival function is `statrs::distribution::ChiSquared::sf`.
pub fn clustered_mcnemar(seeds: &[SeedPairs]) -> ClusteredMcNemar {
    let (mut b, mut c, mut pairs) = (0u64, 0u64, 0u64);
    let (mut sum_d, mut sum_d2) = (0.0f64, 0.0f64);
    for s in seeds {
        debug_assert!(s.only_a + s.only_b <= s.pairs, "discordant pairs exceed pairs: {s:?}");
        b += s.only_a;
        c += s.only_b;
        pairs += s.pairs;
        let d = s.diff();
        sum_d += d;
        sum_d2 += d * d;
    }
    let (chi2, p) = if sum_d2 == 0.0 {
        (0.0, 1.0)
    } else {
        let chi2 = sum_d * sum_d / sum_d2;
        let dist = ChiSquared::new(1.0).expect("1 degree of freedom is valid");
        (chi2, dist.sf(chi2))
    };
    ClusteredMcNemar {
        b,
        c,
        seeds: seeds.len() as u64,
        pairs,
        chi2,
        p,
    }
}

/// Result of [`clustered_paired_difference`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusteredDifference {
    /// D̂ = (Σ A successes − Σ B successes) / Σ pairs = rate_A − rate_B over the pooled pairs.
    pub estimate: f64,
    /// Cluster-robust standard error of `estimate` (seeds as clusters).
    pub se: f64,
    /// Normal interval `estimate ± z·se`, truncated to [−1, 1].
    pub ci: Interval,
    /// Number of seeds (clusters).
    pub seeds: u64,
    /// Number of pairs, Σ_r m_r.
    pub pairs: u64,
}

/// Cluster-robust interval for the pooled paired difference rate_A − rate_B, seeds as clusters.
///
/// With d_r = b_r − c_r (= Σ_cells a − Σ_cells b for seed r), m_r the pairs of seed r,
/// M = Σ_r m_r and S the number of seeds:
///
/// ```text
/// D̂      = Σ_r d_r / M                                      (ratio estimator)
/// Var̂(D̂) = S/(S−1) · Σ_r (d_r − D̂·m_r)² / M²               (linearisation / sandwich)
/// CI     = D̂ ± z·√Var̂(D̂),   truncated to [−1, 1]
/// ```
///
/// This is the textbook variance of a ratio estimator under cluster sampling (Cochran 1977,
/// *Sampling Techniques*, 3rd ed., §6.4 and §9A.2), the same as Obuchowski (1998, *Stat. Med.*
/// 17:1495–1507) uses per proportion, and exactly the cluster-robust ("sandwich", Liang & Zeger
/// 1986) variance of the intercept in the regression of the per-pair difference a − b on a
/// constant with seeds as clusters, with the usual finite-cluster factor S/(S−1) (statsmodels
/// `OLS(...).fit(cov_type="cluster")`, whose correction G/(G−1)·(N−1)/(N−K) is S/(S−1) when
/// K = 1; Cameron & Miller 2015, *J. Human Resources* 50:317–372, §II.C).
///
/// One pair per seed (m_r = 1, d_r ∈ {−1, 0, 1}, b = #{d_r = 1}, c = #{d_r = −1}, n = S):
/// D̂ = (b − c)/n and Var̂ = [(b + c) − (b − c)²/n] / (n(n − 1)) = s_d²/n, the usual interval for
/// the mean of the paired differences with their sample variance (ddof 1); it is the Wald
/// interval for a difference of paired proportions (Agresti 2013, *Categorical Data Analysis*
/// 3rd ed., §11.1.1, variance [(b + c) − (b − c)²/n]/n²) times √(n/(n−1)). Note that for a
/// single cell initgrid's `stats::paired_difference` uses the Agresti–Min adjusted interval
/// instead; this function is meant for pooled rows.
///
/// Degenerate cases: no pairs → estimate NaN, se NaN, interval [−1, 1]. A single seed (S = 1)
/// carries no information on the between-seed variance → se = +∞, interval [−1, 1]. When every
/// seed has d_r = D̂·m_r exactly (e.g. no discordant pairs) the standard error is 0 and the
/// interval collapses to the estimate: clustering cannot repair a sample without variation; the
/// McNemar test reports p = 1 there.
///
/// # Panics
/// If `confidence` is not strictly between 0 and 1.
pub fn clustered_paired_difference(seeds: &[SeedPairs], confidence: f64) -> ClusteredDifference {
    let z = z_for(confidence);
    let s = seeds.len() as u64;
    let pairs: u64 = seeds.iter().map(|x| x.pairs).sum();
    if pairs == 0 {
        return ClusteredDifference {
            estimate: f64::NAN,
            se: f64::NAN,
            ci: Interval { lo: -1.0, hi: 1.0 },
            seeds: s,
            pairs,
        };
    }
    let m = pairs as f64;
    let estimate = seeds.iter().map(SeedPairs::diff).sum::<f64>() / m;
    let se = if s < 2 {
        f64::INFINITY
    } else {
        let sf = s as f64;
        let ss: f64 = seeds
            .iter()
            .map(|x| {
                let e = x.diff() - estimate * x.pairs as f64;
                e * e
            })
            .sum();
        (sf / (sf - 1.0) * ss).sqrt() / m
    };
    let ci = if se.is_finite() {
        Interval {
            lo: (estimate - z * se).max(-1.0),
            hi: (estimate + z * se).min(1.0),
        }
    } else {
        Interval { lo: -1.0, hi: 1.0 }
    };
    ClusteredDifference {
        estimate,
        se,
        ci,
        seeds: s,
        pairs,
    }
}

/// Successes and runs of one seed over the pooled cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeedCount {
    /// Successes of seed r over the pooled cells (k_r).
    pub k: u64,
    /// Runs of seed r over the pooled cells (m_r), `k <= m`.
    pub m: u64,
}

/// Result of [`clustered_rate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusteredRate {
    /// p̂ = Σ k_r / Σ m_r (NaN when n = 0).
    pub rate: f64,
    /// Lower bound of the design-effect-adjusted Wilson interval.
    pub lo: f64,
    /// Upper bound of the design-effect-adjusted Wilson interval.
    pub hi: f64,
    /// Σ k_r.
    pub k: u64,
    /// n = Σ m_r, the number of pooled runs.
    pub n: u64,
    /// S, the number of seeds (clusters) with at least one run.
    pub seeds: u64,
    /// The design effect (≥ 1); the interval is Wilson's with n/deff trials.
    pub deff: f64,
}

impl ClusteredRate {
    /// The interval as a [`crate::analysis::stats::Interval`].
    pub fn ci(&self) -> Interval {
        Interval { lo: self.lo, hi: self.hi }
    }

    /// The effective sample size n/deff.
    pub fn n_eff(&self) -> f64 {
        self.n as f64 / self.deff
    }
}

/// Wilson score interval from a proportion `p` and a (possibly non-integer) number of trials
/// `n_eff > 0`, with normal quantile `z`.
///
/// The same formula, evaluated in the same order, as [`crate::analysis::stats::wilson`] (Wilson 1927,
/// *JASA* 22:209–212), so for an integer n_eff and p = x/n the bounds agree to rounding. As there,
/// lo = 0 exactly when p = 0 and hi = 1 exactly when p = 1, and bounds are clamped to [0, 1].
/// Using Wilson with the effective sample size n/deff for clustered data follows Kish (1965,
/// *Survey Sampling*, §8.2) and Korn & Graubard (1998, *Survey Methodology* 24:193–201); Dean &
/// Pagano (2015, *J. Surv. Stat. Methodol.* 3:484–503) find it among the best intervals for
/// clustered proportions.
pub fn wilson_eff(p: f64, n_eff: f64, z: f64) -> Interval {
    assert!((0.0..=1.0).contains(&p), "wilson_eff: proportion {p} outside [0, 1]");
    assert!(n_eff > 0.0, "wilson_eff: effective sample size must be positive, got {n_eff}");
    let z2 = z * z;
    let denom = 1.0 + z2 / n_eff;
    let center = (p + z2 / (2.0 * n_eff)) / denom;
    let half = z * (p * (1.0 - p) / n_eff + z2 / (4.0 * n_eff * n_eff)).sqrt() / denom;
    let lo = if p == 0.0 { 0.0 } else { (center - half).max(0.0) };
    let hi = if p == 1.0 { 1.0 } else { (center + half).min(1.0) };
    Interval { lo, hi }
}

/// Design-effect-adjusted Wilson interval for a rate pooled over several cells, seeds as
/// clusters.
///
/// Input: for every seed r, its successes k_r and runs m_r over the pooled cells (seeds with
/// m_r = 0 are ignored). With n = Σ m_r, p̂ = Σ k_r / n and S the number of seeds:
///
/// ```text
/// Var̂_clu(p̂) = S/(S−1) · Σ_r (k_r − p̂·m_r)² / n²     (ratio estimator, seeds as clusters)
/// Var̂_srs(p̂) = p̂(1−p̂) / (n − 1)                        (independent runs, same ddof)
/// deff       = max(1, Var̂_clu / Var̂_srs)                (deff = 1 when p̂ ∈ {0, 1})
/// CI         = Wilson(p̂, n_eff = n / deff)
/// ```
///
/// When every seed has the same number of runs m (every pooled cell has every seed — the usual
/// case), Var̂_clu = s²/S where s² is the sample variance (ddof 1) of the S per-seed mean outcomes
/// k_r/m: the formula of issue 13. With unequal m_r (adaptive seeds) the per-seed means no
/// longer average to p̂, and the ratio-estimator form above (Cochran 1977, §6.4; the design
/// effect of Rao & Scott 1992, *Biometrics* 48:577–585, eq. 3) is the consistent
/// generalisation. The reference variance uses the unbiased p̂(1−p̂)/(n−1), matching the ddof of
/// Var̂_clu: with one run per seed (a single cell) the two are algebraically equal, so deff = 1
/// and the interval is exactly plain Wilson, whereas Rao & Scott's p̂(1−p̂)/n would give
/// deff = S/(S−1) for independent data. A single cell is also short-circuited to deff = 1
/// exactly (every m_r ≤ 1: nothing is clustered).
///
/// Degenerate cases: n = 0 → rate NaN, interval [0, 1], deff 1. A single seed with several runs
/// (S = 1 < n) leaves the between-seed variance unestimable: deff = n, so n_eff = 1 (one
/// independent unit), the most conservative value.
///
/// # Panics
/// If some k_r > m_r, or if `confidence` is not strictly between 0 and 1.
pub fn clustered_rate(per_seed: &[SeedCount], confidence: f64) -> ClusteredRate {
    let z = z_for(confidence);
    let (mut k, mut n, mut seeds, mut max_m) = (0u64, 0u64, 0u64, 0u64);
    for s in per_seed {
        assert!(s.k <= s.m, "clustered_rate: k = {} exceeds m = {} runs", s.k, s.m);
        if s.m > 0 {
            k += s.k;
            n += s.m;
            seeds += 1;
            max_m = max_m.max(s.m);
        }
    }
    if n == 0 {
        return ClusteredRate {
            rate: f64::NAN,
            lo: 0.0,
            hi: 1.0,
            k,
            n,
            seeds,
            deff: 1.0,
        };
    }
    let nf = n as f64;
    let p = k as f64 / nf;
    let deff = if k == 0 || k == n || max_m <= 1 {
        1.0
    } else if seeds < 2 {
        nf
    } else {
        let sf = seeds as f64;
        let ss: f64 = per_seed
            .iter()
            .filter(|s| s.m > 0)
            .map(|s| {
                let e = s.k as f64 - p * s.m as f64;
                e * e
            })
            .sum();
        let var_clu = sf / (sf - 1.0) * ss / (nf * nf);
        let var_srs = p * (1.0 - p) / (nf - 1.0);
        (var_clu / var_srs).max(1.0)
    };
    let ci = wilson_eff(p, nf / deff, z);
    ClusteredRate {
        rate: p,
        lo: ci.lo,
        hi: ci.hi,
        k,
        n,
        seeds,
        deff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::{CONFIDENCE, Z95, mcnemar, wilson};
    use proptest::prelude::*;

    fn assert_abs(actual: f64, expected: f64, tol: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tol,
            "{what}: got {actual:e}, expected {expected:e} (|diff| = {:e} > {tol:e})",
            (actual - expected).abs()
        );
    }

    fn sp(only_a: u64, only_b: u64, pairs: u64) -> SeedPairs {
        SeedPairs { only_a, only_b, pairs }
    }

    /// The 3-seed × 2-cell example of issue 13, written out pair by pair:
    ///
    /// ```text
    ///            cell 1 (A, B)   cell 2 (A, B)   b_r  c_r  d_r  m_r
    /// seed 0       (1, 0)          (1, 0)         2    0    2    2
    /// seed 1       (1, 1)          (0, 1)         0    1   −1    2
    /// seed 2       (1, 0)          (0, 0)         1    0    1    2
    /// ```
    fn three_seeds_two_cells() -> Vec<SeedPairs> {
        vec![
            SeedPairs::from_pairs(&[(true, false), (true, false)]),
            SeedPairs::from_pairs(&[(true, true), (false, true)]),
            SeedPairs::from_pairs(&[(true, false), (false, false)]),
        ]
    }

    #[test]
    fn from_pairs_counts_discordant_pairs() {
        assert_eq!(three_seeds_two_cells(), vec![sp(2, 0, 2), sp(0, 1, 2), sp(1, 0, 2)]);
    }

    #[test]
    fn clustered_mcnemar_hand_computed_three_seeds_two_cells() {
        // Σ d_r = 2 − 1 + 1 = 2, Σ d_r² = 4 + 1 + 1 = 6, χ² = 4/6 = 2/3.
        // p = P(χ²₁ ≥ 2/3) = erfc(√(1/3)) = 0.41421617824252...:
        //   python -c "from scipy.stats import chi2; print(repr(chi2.sf(2/3, 1)))"
        //   → 0.4142161782425251
        // Unclustered McNemar on the same 6 pairs (b = 3, c = 1): χ² = 4/4 = 1, p = 0.3173.
        let t = clustered_mcnemar(&three_seeds_two_cells());
        assert_eq!((t.b, t.c, t.seeds, t.pairs), (3, 1, 3, 6));
        assert_abs(t.chi2, 2.0 / 3.0, 1e-15, "chi2");
        assert_abs(t.p, 0.4142161782425251, 1e-12, "p");
        let naive = mcnemar(3, 1);
        assert_abs(naive.chi2, 1.0, 1e-15, "unclustered chi2");
        assert!(t.p > naive.chi2_p, "clustering must widen here");
    }

    #[test]
    fn clustered_mcnemar_degenerate_cases() {
        // No seeds, no discordant pairs, and discordant pairs that cancel within every seed.
        for seeds in [vec![], vec![sp(0, 0, 4), sp(0, 0, 4)], vec![sp(2, 2, 4), sp(1, 1, 3)]] {
            let t = clustered_mcnemar(&seeds);
            assert_eq!((t.chi2, t.p), (0.0, 1.0), "{seeds:?}");
        }
    }

    #[test]
    fn clustered_mcnemar_matches_scipy_on_a_larger_example() {
        // d = [3, -1, 0, 2, 2, -2, 1, 0]: Σd = 5, Σd² = 23, χ² = 25/23.
        //   python -c "from scipy.stats import chi2; print(repr(chi2.sf(25/23, 1)))"
        //   → 0.2971465303484674
        let seeds = [
            sp(3, 0, 4),
            sp(1, 2, 4),
            sp(0, 0, 4),
            sp(2, 0, 4),
            sp(3, 1, 4),
            sp(0, 2, 4),
            sp(1, 0, 4),
            sp(2, 2, 4),
        ];
        let t = clustered_mcnemar(&seeds);
        assert_abs(t.chi2, 25.0 / 23.0, 1e-14, "chi2");
        assert_abs(t.p, 0.2971465303484674, 1e-12, "p");
    }

    proptest! {
        /// One pair per seed: the clustered statistic is McNemar's uncorrected χ² exactly.
        #[test]
        fn clustered_mcnemar_is_mcnemar_with_one_pair_per_seed(
            b in 0u64..400, c in 0u64..400, concordant in 0u64..400
        ) {
            let mut seeds = vec![sp(1, 0, 1); b as usize];
            seeds.extend(vec![sp(0, 1, 1); c as usize]);
            seeds.extend(vec![sp(0, 0, 1); concordant as usize]);
            let t = clustered_mcnemar(&seeds);
            let m = mcnemar(b, c);
            prop_assert_eq!((t.b, t.c), (b, c));
            prop_assert!((t.chi2 - m.chi2).abs() <= 1e-12 * m.chi2.max(1.0), "{t:?} {m:?}");
            prop_assert!((t.p - m.chi2_p).abs() <= 1e-12, "{t:?} {m:?}");
        }

        #[test]
        fn clustered_mcnemar_is_symmetric_and_a_probability(
            d in proptest::collection::vec((0u64..5, 0u64..5), 0..60)
        ) {
            let seeds: Vec<_> = d.iter().map(|&(a, b)| sp(a, b, a + b + 1)).collect();
            let swapped: Vec<_> = d.iter().map(|&(a, b)| sp(b, a, a + b + 1)).collect();
            let (x, y) = (clustered_mcnemar(&seeds), clustered_mcnemar(&swapped));
            prop_assert!((0.0..=1.0).contains(&x.p));
            prop_assert_eq!((x.chi2, x.p), (y.chi2, y.p));
        }
    }

    // ---- paired difference ----

    #[test]
    fn clustered_difference_hand_computed_three_seeds_two_cells() {
        // M = 6, D̂ = Σd/M = 2/6 = 1/3 (rate_A = 4/6, rate_B = 2/6).
        // e_r = d_r − D̂·m_r = 2 − 2/3, −1 − 2/3, 1 − 2/3 = 4/3, −5/3, 1/3; Σe² = 42/9 = 14/3.
        // Var̂ = S/(S−1)·Σe²/M² = 1.5·(14/3)/36 = 7/36, se = √7/6 = 0.44095855184409843.
        // lo = 1/3 − 1.959963984540054·√7/6 = −0.5309...; hi = 1.1975... → truncated to 1.
        let d = clustered_paired_difference(&three_seeds_two_cells(), CONFIDENCE);
        assert_abs(d.estimate, 1.0 / 3.0, 1e-15, "estimate");
        assert_abs(d.se, 7f64.sqrt() / 6.0, 1e-15, "se");
        assert_abs(d.ci.lo, 1.0 / 3.0 - Z95 * 7f64.sqrt() / 6.0, 1e-15, "lo");
        assert_eq!(d.ci.hi, 1.0);
        assert_eq!((d.seeds, d.pairs), (3, 6));
    }

    #[test]
    fn clustered_difference_matches_statsmodels_cluster_robust_ols() {
        // The 8-seed × 4-cell example above, expanded to one row per (seed, cell) pair with
        // y = a − b ∈ {1, −1, 0}: a regression on a constant with seeds as clusters.
        //   import numpy as np, statsmodels.api as sm
        //   b = [3,1,0,2,3,0,1,2]; c = [0,2,0,0,1,2,0,2]
        //   y, g = [], []
        //   for r in range(8):
        //       rows = [1]*b[r] + [-1]*c[r] + [0]*(4-b[r]-c[r]); y += rows; g += [r]*4
        //   f = sm.OLS(np.array(y, float), np.ones(len(y))).fit(
        //           cov_type="cluster", cov_kwds={"groups": np.array(g)})
        //   print(repr(f.params[0]), repr(f.bse[0]))
        //   → 0.15625000000000006 0.14893595819296682
        let seeds = [
            sp(3, 0, 4),
            sp(1, 2, 4),
            sp(0, 0, 4),
            sp(2, 0, 4),
            sp(3, 1, 4),
            sp(0, 2, 4),
            sp(1, 0, 4),
            sp(2, 2, 4),
        ];
        let d = clustered_paired_difference(&seeds, CONFIDENCE);
        assert_abs(d.estimate, 5.0 / 32.0, 1e-15, "estimate");
        assert_abs(d.se, 0.14893595819296682, 1e-12, "se");
    }

    #[test]
    fn clustered_difference_degenerate_cases() {
        let d = clustered_paired_difference(&[], CONFIDENCE);
        assert!(d.estimate.is_nan() && d.se.is_nan());
        assert_eq!(d.ci, Interval { lo: -1.0, hi: 1.0 });
        let d = clustered_paired_difference(&[sp(2, 0, 3)], CONFIDENCE);
        assert_abs(d.estimate, 2.0 / 3.0, 1e-15, "single seed");
        assert_eq!((d.se, d.ci), (f64::INFINITY, Interval { lo: -1.0, hi: 1.0 }));
        let d = clustered_paired_difference(&[sp(0, 0, 3), sp(0, 0, 3)], CONFIDENCE);
        assert_eq!((d.estimate, d.se, d.ci), (0.0, 0.0, Interval { lo: 0.0, hi: 0.0 }));
    }

    proptest! {
        /// One pair per seed: D̂ = (b − c)/n and se² = [(b + c) − (b − c)²/n] / (n(n − 1)), the
        /// Wald variance of a paired difference times n/(n − 1) (= s_d²/n with ddof 1).
        #[test]
        fn clustered_difference_with_one_pair_per_seed_is_the_paired_wald_interval(
            b in 0u64..300, c in 0u64..300, concordant in 0u64..300
        ) {
            let n = b + c + concordant;
            prop_assume!(n >= 2);
            let mut seeds = vec![sp(1, 0, 1); b as usize];
            seeds.extend(vec![sp(0, 1, 1); c as usize]);
            seeds.extend(vec![sp(0, 0, 1); concordant as usize]);
            let d = clustered_paired_difference(&seeds, CONFIDENCE);
            let (bf, cf, nf) = (b as f64, c as f64, n as f64);
            let est = (bf - cf) / nf;
            let wald_var = ((bf + cf) - (bf - cf) * (bf - cf) / nf) / (nf * nf);
            let se = (wald_var * nf / (nf - 1.0)).sqrt();
            prop_assert!((d.estimate - est).abs() <= 1e-15);
            prop_assert!((d.se - se).abs() <= 1e-12, "{} vs {}", d.se, se);
            prop_assert!((d.ci.lo - (est - Z95 * se).max(-1.0)).abs() <= 1e-12);
            prop_assert!((d.ci.hi - (est + Z95 * se).min(1.0)).abs() <= 1e-12);
        }

        #[test]
        fn clustered_difference_is_antisymmetric(
            d in proptest::collection::vec((0u64..4, 0u64..4, 0u64..3), 2..50)
        ) {
            let seeds: Vec<_> = d.iter().map(|&(a, b, e)| sp(a, b, a + b + e)).collect();
            let swapped: Vec<_> = d.iter().map(|&(a, b, e)| sp(b, a, a + b + e)).collect();
            let (x, y) = (
                clustered_paired_difference(&seeds, CONFIDENCE),
                clustered_paired_difference(&swapped, CONFIDENCE),
            );
            prop_assert!(-1.0 <= x.ci.lo && x.ci.lo <= x.ci.hi && x.ci.hi <= 1.0);
            if d.iter().all(|&(a, b, e)| a + b + e == 0) {
                // No seed has a pair (CI found this input): the difference is undefined both
                // ways, and the interval is the whole range — not a number that looks antisymmetric.
                prop_assert!(x.estimate.is_nan() && y.estimate.is_nan());
            } else {
                prop_assert!((x.estimate + y.estimate).abs() <= 1e-15);
            }
            prop_assert!((x.ci.lo + y.ci.hi).abs() <= 1e-12 && (x.ci.hi + y.ci.lo).abs() <= 1e-12);
        }
    }

    // ---- design-effect-adjusted Wilson ----

    fn sc(k: u64, m: u64) -> SeedCount {
        SeedCount { k, m }
    }

    #[test]
    fn clustered_rate_single_cell_is_plain_wilson() {
        for (x, n) in [(7u64, 50u64), (81, 263), (1, 29), (0, 20), (10, 10), (500, 1000), (1, 2)] {
            let seeds: Vec<_> = (0..n).map(|i| sc(u64::from(i < x), 1)).collect();
            let r = clustered_rate(&seeds, CONFIDENCE);
            let w = wilson(x, n, CONFIDENCE);
            assert_eq!((r.k, r.n, r.seeds, r.deff), (x, n, n, 1.0));
            assert_abs(r.lo, w.lo, 1e-12, "lo");
            assert_abs(r.hi, w.hi, 1e-12, "hi");
        }
    }

    #[test]
    fn deff_reference_variance_makes_independent_outcomes_deff_one() {
        // The short-circuit aside, the formula itself gives Var̂_clu = Var̂_srs for m_r = 1:
        // S/(S−1)·Σ(y_r − p̂)²/S² = p̂(1−p̂)/(S−1). Two seeds of two runs each, all
        // independent-looking: (1, 2), (1, 2) → Σ(k_r − p̂ m_r)² = 0 → deff = max(1, 0) = 1.
        let r = clustered_rate(&[sc(1, 2), sc(1, 2)], CONFIDENCE);
        assert_eq!(r.deff, 1.0);
        let w = wilson(2, 4, CONFIDENCE);
        assert_abs(r.lo, w.lo, 1e-15, "lo");
        assert_abs(r.hi, w.hi, 1e-15, "hi");
    }

    #[test]
    fn clustered_rate_hand_computed_three_seeds_two_cells() {
        // Outcome A of the 3-seed × 2-cell example: k = (2, 1, 1), m = (2, 2, 2), n = 6, p̂ = 2/3.
        // Per-seed means y = (1, ½, ½): ȳ = 2/3, s² = ((1/3)² + 2(1/6)²)/2 = 1/12, s²/S = 1/36.
        // Var̂_srs = p̂(1−p̂)/(n−1) = (2/9)/5 = 2/45. deff = max(1, (1/36)/(2/45)) = max(1, 5/8) = 1.
        let r = clustered_rate(&[sc(2, 2), sc(1, 2), sc(1, 2)], CONFIDENCE);
        assert_eq!(r.deff, 1.0);
        // Perfectly clustered: k = (2, 0, 2), y = (1, 0, 1), p̂ = 2/3, s² = 1/3, s²/S = 1/9;
        // deff = (1/9)/(2/45) = 2.5, n_eff = 6/2.5 = 2.4 = (n−1)/(S−1)·… ≈ S: Wilson(2/3, 2.4).
        let r = clustered_rate(&[sc(2, 2), sc(0, 2), sc(2, 2)], CONFIDENCE);
        assert_abs(r.deff, 2.5, 1e-14, "deff");
        assert_abs(r.n_eff(), 2.4, 1e-14, "n_eff");
        // statsmodels: proportion_confint(2/3*2.4, 2.4, alpha=0.05, method="wilson")
        //   → (0.18029781797928252, 0.947877344748304)
        assert_abs(r.lo, 0.18029781797928252, 1e-12, "lo");
        assert_abs(r.hi, 0.947877344748304, 1e-12, "hi");
    }

    #[test]
    fn clustered_rate_matches_python_reference() {
        // 6 seeds × 5 cells, k_r = [5, 0, 1, 4, 2, 0]:
        //   import numpy as np
        //   from statsmodels.stats.proportion import proportion_confint
        //   k = np.array([5, 0, 1, 4, 2, 0]); m = 5; S = len(k); n = S*m; p = k.sum()/n
        //   s2 = np.var(k/m, ddof=1); deff = max(1, (s2/S) / (p*(1-p)/(n-1)))
        //   print(repr(deff), proportion_confint(p*n/deff, n/deff, alpha=0.05, method="wilson"))
        //   → 3.5444444444444447 (0.15572374343936235, 0.7067115470186741)
        let seeds: Vec<_> = [5, 0, 1, 4, 2, 0].iter().map(|&k| sc(k, 5)).collect();
        let r = clustered_rate(&seeds, CONFIDENCE);
        assert_eq!((r.k, r.n, r.seeds), (12, 30, 6));
        assert_abs(r.deff, 3.5444444444444447, 1e-12, "deff");
        assert_abs(r.lo, 0.15572374343936235, 1e-12, "lo");
        assert_abs(r.hi, 0.7067115470186741, 1e-12, "hi");
    }

    #[test]
    fn clustered_rate_unequal_runs_uses_the_ratio_estimator() {
        // k = (3, 0, 1), m = (4, 2, 1): n = 7, p̂ = 4/7; residuals k − p̂m = 3 − 16/7, −8/7,
        // 1 − 4/7 = 5/7, −8/7, 3/7; Σ = (25 + 64 + 9)/49 = 2; Var̂_clu = 1.5·2/49 = 3/49.
        // Var̂_srs = (4/7)(3/7)/6 = 2/49. deff = 1.5.
        let r = clustered_rate(&[sc(3, 4), sc(0, 2), sc(1, 1)], CONFIDENCE);
        assert_abs(r.deff, 1.5, 1e-14, "deff");
        let w = wilson_eff(4.0 / 7.0, 7.0 / 1.5, Z95);
        assert_abs(r.lo, w.lo, 1e-14, "lo");
        assert_abs(r.hi, w.hi, 1e-14, "hi");
        // Seeds without runs are ignored.
        let r2 = clustered_rate(&[sc(3, 4), sc(0, 0), sc(0, 2), sc(1, 1)], CONFIDENCE);
        assert_eq!(r, r2);
    }

    #[test]
    fn clustered_rate_degenerate_cases() {
        let r = clustered_rate(&[], CONFIDENCE);
        assert!(r.rate.is_nan());
        assert_eq!((r.lo, r.hi, r.n, r.seeds, r.deff), (0.0, 1.0, 0, 0, 1.0));
        // p̂ = 0 or 1: deff = 1, plain Wilson on n.
        let r = clustered_rate(&[sc(0, 3), sc(0, 3)], CONFIDENCE);
        assert_eq!((r.deff, r.ci()), (1.0, wilson(0, 6, CONFIDENCE)));
        let r = clustered_rate(&[sc(3, 3), sc(3, 3)], CONFIDENCE);
        assert_eq!(r.deff, 1.0);
        assert_abs(r.lo, wilson(6, 6, CONFIDENCE).lo, 1e-15, "all-success lo");
        // One seed with several runs: n_eff = 1.
        let r = clustered_rate(&[sc(2, 5)], CONFIDENCE);
        assert_eq!((r.deff, r.n_eff()), (5.0, 1.0));
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn clustered_rate_rejects_k_above_m() {
        clustered_rate(&[sc(3, 2)], CONFIDENCE);
    }

    proptest! {
        #[test]
        fn clustered_rate_is_at_least_as_wide_as_wilson_and_contains_the_rate(
            v in proptest::collection::vec((0u64..6, 1u64..6), 1..80)
        ) {
            let seeds: Vec<_> = v.iter().map(|&(k, m)| sc(k.min(m), m)).collect();
            let r = clustered_rate(&seeds, CONFIDENCE);
            let w = wilson(r.k, r.n, CONFIDENCE);
            prop_assert!(r.deff >= 1.0);
            prop_assert!(0.0 <= r.lo && r.lo <= r.rate && r.rate <= r.hi && r.hi <= 1.0);
            prop_assert!(r.lo <= w.lo + 1e-12 && r.hi >= w.hi - 1e-12, "{r:?} vs {w:?}");
        }

        #[test]
        fn wilson_eff_agrees_with_wilson_at_integer_n((x, n) in (1u64..3000).prop_flat_map(|n| (0..=n, Just(n)))) {
            let w = wilson(x, n, CONFIDENCE);
            let e = wilson_eff(x as f64 / n as f64, n as f64, Z95);
            prop_assert!((w.lo - e.lo).abs() <= 1e-12 && (w.hi - e.hi).abs() <= 1e-12);
        }
    }
}
