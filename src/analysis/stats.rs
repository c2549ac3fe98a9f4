//! Statistics for reporting convergence rates: interval estimates for a binomial proportion,
//! McNemar's test and an interval for the difference of two paired proportions, Holm's
//! multiplicity adjustment, and sample quantiles.
//!
//! Everything here is a pure function of counts (or of an already sorted slice), so results are
//! reproducible bit for bit. Sources: Wilson (1927, JASA 22:209); Clopper & Pearson (1934,
//! Biometrika 26:404); McNemar (1947, Psychometrika 12:153); Holm (1979, Scand. J. Stat.
//! 6:65); Agresti & Min (2005, Stat. Med. 24:729); the reference values in the tests come from scipy
//! 1.17.1, statsmodels 0.15.0 and numpy 2.4.6 (and from the formula written out in a comment
//! where no library implements it).
//!
//! Numerics come from `statrs` 0.18: `Beta::inverse_cdf` (Clopper–Pearson), `Binomial::cdf`
//! and `Binomial::pmf` (exact McNemar), `ChiSquared::sf` (asymptotic McNemar) and
//! `statrs::function::erf::erfc_inv` (normal quantile). Against scipy they agree to better than
//! 1e-12 absolute for the Clopper–Pearson bounds and 1e-9 relative for the exact binomial p-value
//! as long as the number of trials is at most about 1e5. Above that, statrs's regularized
//! incomplete beta loses digits (statrs issue #434): at n = 1e6 a Clopper–Pearson bound is off by
//! about 1e-10 absolute and a near-balanced exact McNemar p-value by about 2e-3. Neither matters
//! for the sample sizes of a grid of seeded runs, but do not use these functions as a reference
//! implementation for huge n.

use statrs::distribution::{Beta, Binomial, ChiSquared, ContinuousCDF, Discrete, DiscreteCDF};

/// Default confidence level for every interval in the tool, kept in one place
/// (the same convention as criterion.rs's `confidence_level = 0.95`).
pub const CONFIDENCE: f64 = 0.95;

/// z = Φ⁻¹(0.975) = 1.959963984540054235…, the two-sided 95 % standard normal quantile,
/// correctly rounded to f64 (checked with mpmath at 40 digits; scipy's `norm.isf(0.025)` returns
/// the neighbouring float 1.9599639845400545). Source: scipy.stats.norm.ppf(0.975).
pub const Z95: f64 = 1.959963984540054;

/// A closed interval `[lo, hi]` with `lo <= hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Panics unless `0 < confidence < 1` (NaN included in the rejected values).
fn check_confidence(confidence: f64) {
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence level must lie strictly between 0 and 1, got {confidence}"
    );
}

/// Two-sided standard normal quantile z = Φ⁻¹(1 − α/2) with α = 1 − `confidence`, so that
/// P(|Z| ≤ z) = `confidence`.
///
/// Computed as z = √2 · erfc⁻¹(α) (`statrs::function::erf::erfc_inv`), which is the same as
/// `-Normal::standard().inverse_cdf(α/2)` in statrs and `scipy.stats.norm.isf(α/2)`. Working from
/// α rather than 1 − α/2 keeps full relative precision for confidence levels close to 1
/// (α = 1 − c is exact for c ≥ 0.5). `z_for(CONFIDENCE)` returns exactly [`Z95`].
///
/// # Panics
/// If `confidence` is not strictly between 0 and 1.
pub fn z_for(confidence: f64) -> f64 {
    if confidence == CONFIDENCE {
        return Z95;
    }
    check_confidence(confidence);
    std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(1.0 - confidence)
}

/// Wilson score interval for a binomial proportion, `x` successes in `n` trials.
///
/// With p̂ = x/n and z = [`z_for`]`(confidence)`:
///
/// ```text
/// (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)
/// ```
///
/// Source: Wilson (1927), *JASA* 22:209–212; computed in the same order as statsmodels
/// `proportion_confint(method="wilson")`; matches scipy `BinomTestResult.proportion_ci("wilson")`.
///
///
/// The lower bound is exactly 0.0 when `x == 0` and the upper bound exactly 1.0 when `x == n`
/// (the formula gives these values up to rounding; they are set exactly). Bounds are clamped to
/// [0, 1]. With no trials (`n == 0`) the interval is the uninformative `[0, 1]`.
///
/// # Panics
/// If `x > n`, or if `confidence` is not strictly between 0 and 1.
pub fn wilson(x: u64, n: u64, confidence: f64) -> Interval {
    assert!(x <= n, "wilson: x = {x} successes exceeds n = {n} trials");
    let z = z_for(confidence);
    if n == 0 {
        return Interval { lo: 0.0, hi: 1.0 };
    }
    let nf = n as f64;
    let p = x as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let center = (p + z2 / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    let lo = if x == 0 { 0.0 } else { (center - half).max(0.0) };
    let hi = if x == n { 1.0 } else { (center + half).min(1.0) };
    Interval { lo, hi }
}

/// Clopper–Pearson ("exact") interval for a binomial proportion, `x` successes in `n` trials.
///
/// With α = 1 − `confidence` and Beta⁻¹(q; a, b) the quantile function of the Beta(a, b)
/// distribution:
///
/// ```text
/// lo = Beta⁻¹(α/2; x, n − x + 1)        (lo = 0 when x = 0)
/// hi = Beta⁻¹(1 − α/2; x + 1, n − x)    (hi = 1 when x = n)
/// ```
///
/// Source: Clopper & Pearson (1934), *Biometrika* 26:404–413; statsmodels
/// `proportion_confint(method="beta")`; scipy `binomtest(...).proportion_ci()` (default
/// `method='exact'`).
///
/// The general case uses `statrs::distribution::Beta::inverse_cdf` (statrs's AS 64/AS 109
/// `inv_beta_reg`). It reproduces every reference vector to all 10 printed digits, and scipy's
/// `beta.ppf` to < 1e-12 absolute on a grid of x with n ≤ 1e5, so no refinement (Newton or
/// bisection on `beta_reg`) is needed (see the module docs for larger n). The
/// one-sided edge cases use their closed forms, exact to rounding for any n: for x = 0,
/// hi = 1 − (α/2)^(1/n) (the Beta(1, n) quantile), and for x = n, lo = (α/2)^(1/n).
/// With no trials (`n == 0`) the interval is the uninformative `[0, 1]`.
///
/// # Panics
/// If `x > n`, or if `confidence` is not strictly between 0 and 1.
pub fn clopper_pearson(x: u64, n: u64, confidence: f64) -> Interval {
    assert!(x <= n, "clopper_pearson: x = {x} successes exceeds n = {n} trials");
    check_confidence(confidence);
    if n == 0 {
        return Interval { lo: 0.0, hi: 1.0 };
    }
    let half_alpha = (1.0 - confidence) / 2.0;
    // ln(α/2)/n, used by the closed forms (α/2)^(1/n) = exp(ln(α/2)/n).
    let log_root = half_alpha.ln() / n as f64;
    let lo = if x == 0 {
        0.0
    } else if x == n {
        log_root.exp()
    } else {
        beta_quantile(x as f64, (n - x + 1) as f64, half_alpha)
    };
    let hi = if x == n {
        1.0
    } else if x == 0 {
        -log_root.exp_m1()
    } else {
        beta_quantile((x + 1) as f64, (n - x) as f64, 1.0 - half_alpha)
    };
    Interval {
        lo: lo.clamp(0.0, 1.0),
        hi: hi.clamp(0.0, 1.0),
    }
}

/// Quantile of Beta(a, b) at probability `q`, for a, b > 0 (always true where it is called).
fn beta_quantile(a: f64, b: f64, q: f64) -> f64 {
    Beta::new(a, b)
        .expect("Beta shape parameters are positive and finite")
        .inverse_cdf(q)
}

/// McNemar's test for paired binary outcomes, from the two discordant counts of the 2×2 table
/// [[a, b], [c, d]]: `b` pairs where only the first condition succeeded, `c` where only the second
/// did. Produced by [`mcnemar`]; every p-value is two-sided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemar {
    /// Discordant count b (first condition only).
    pub b: u64,
    /// Discordant count c (second condition only).
    pub c: u64,
    /// Exact (binomial) p-value: min(1, 2·BinomCDF(min(b, c); b + c, ½)).
    pub exact_p: f64,
    /// Mid-p value: 2·BinomCDF(min(b, c); b + c, ½) − BinomPMF(min(b, c); b + c, ½), capped at 1.
    pub mid_p: f64,
    /// Uncorrected statistic χ² = (b − c)² / (b + c), 1 degree of freedom.
    pub chi2: f64,
    /// p-value of [`chi2`](Self::chi2): P(χ²₁ ≥ chi2).
    pub chi2_p: f64,
    /// Continuity-corrected statistic χ² = (|b − c| − 1)² / (b + c), statsmodels convention.
    pub chi2_cc: f64,
    /// p-value of [`chi2_cc`](Self::chi2_cc): P(χ²₁ ≥ chi2_cc).
    pub chi2_cc_p: f64,
}

/// McNemar's test of marginal homogeneity (H₀: P(only A succeeds) = P(only B succeeds)) from the
/// discordant counts `b` and `c`. Concordant pairs carry no information and are not needed.
///
/// With n = b + c and m = min(b, c):
///
/// ```text
/// exact_p   = min(1, 2·BinomCDF(m; n, ½))
/// mid_p     = 2·BinomCDF(m; n, ½) − BinomPMF(m; n, ½)          (capped at 1)
/// chi2      = (b − c)² / n,          chi2_p    = P(χ²₁ ≥ chi2)
/// chi2_cc   = (|b − c| − 1)² / n,    chi2_cc_p = P(χ²₁ ≥ chi2_cc)
/// ```
///
/// Sources: McNemar (1947), *Psychometrika* 12:153–157; statsmodels 0.15.0
/// `statsmodels.stats.contingency_tables.mcnemar` for the exact p-value and for the continuity
/// correction; mid-p as in Fagerland, Lydersen & Laake (2013), *BMC Med. Res. Methodol.* 13:91.
///
///
/// Conventions:
/// - The continuity correction always subtracts 1, as statsmodels does, so b = c > 0 gives
///   chi2_cc = 1/(b + c) (b = c = 1: 0.5, p = 0.4795001222). R's `mcnemar.test` instead skips the
///   correction when b = c and reports χ² = 0, p = 1.
/// - b + c = 0 (no discordant pairs) gives every p-value 1 and every statistic 0 (statsmodels
///   reports χ² = inf, p = 0 for the corrected test there, which is a quirk).
/// - b = c gives exact_p = mid_p = 1 exactly (2·CDF(m) − PMF(m) = 1 by symmetry), and
///   |b − c| = 1 gives exact_p = 1 exactly (CDF(m) = ½) and mid_p = 1 − PMF(m); these are set
///   from the symmetry rather than computed, which would leave rounding error of order 1e-15.
///
/// Binomial probabilities come from `statrs::distribution::Binomial::{cdf, pmf}` and the χ²₁
/// survival function from `statrs::distribution::ChiSquared::sf`.
pub fn mcnemar(b: u64, c: u64) -> McNemar {
    let n = b.checked_add(c).expect("mcnemar: b + c overflows u64");
    if n == 0 {
        return McNemar {
            b,
            c,
            exact_p: 1.0,
            mid_p: 1.0,
            chi2: 0.0,
            chi2_p: 1.0,
            chi2_cc: 0.0,
            chi2_cc_p: 1.0,
        };
    }
    let (exact_p, mid_p) = if b == c {
        (1.0, 1.0)
    } else {
        let m = b.min(c);
        let binom = Binomial::new(0.5, n).expect("p = 1/2 is a valid binomial parameter");
        let pmf = binom.pmf(m);
        if b.abs_diff(c) == 1 {
            // n odd and m = (n − 1)/2: CDF(m) = ½ exactly by symmetry, so 2·CDF(m) = 1.
            (1.0, 1.0 - pmf)
        } else {
            let two_cdf = 2.0 * binom.cdf(m);
            (two_cdf.min(1.0), (two_cdf - pmf).min(1.0))
        }
    };
    let nf = n as f64;
    let diff = b.abs_diff(c) as f64;
    let chi2 = diff * diff / nf;
    let chi2_cc = (diff - 1.0) * (diff - 1.0) / nf;
    let chi1 = ChiSquared::new(1.0).expect("1 degree of freedom is valid");
    McNemar {
        b,
        c,
        exact_p,
        mid_p,
        chi2,
        chi2_p: chi1.sf(chi2),
        chi2_cc,
        chi2_cc_p: chi1.sf(chi2_cc),
    }
}

/// Holm–Bonferroni step-down adjusted p-values, returned in input order.
///
/// Let m be the number of non-NaN p-values and p₍₁₎ ≤ … ≤ p₍ₘ₎ those values sorted. Then
///
/// ```text
/// p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1)·p₍ⱼ₎)
/// ```
///
/// Rejecting every hypothesis with p̃ ≤ α controls the family-wise error rate at α under any
/// dependence. The cumulative maximum makes the adjusted values monotone in the raw ones, and
/// the result does not depend on how ties are ordered.
///
/// Sources: Holm (1979), *Scand. J. Statist.* 6:65–70; same values as statsmodels
/// `multipletests(p, method="holm")` and R `p.adjust(p, "holm")`. NaN entries are passed through
/// as NaN and excluded from m, like R's `p.adjust` does with `NA` (statsmodels would propagate
/// NaN instead). Inputs are expected to lie in [0, 1]; this is not checked.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p.len()];
    let mut running_max = f64::NEG_INFINITY;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p[i]).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[i] = running_max;
    }
    adjusted
}

/// Sample quantile of an ascending `sorted` slice by linear interpolation between order
/// statistics: Hyndman & Fan (1996, *Amer. Statist.* 50:361–365) type 7, the default of numpy
/// `quantile` (`method="linear"`) and R `quantile`.
///
/// With n = `sorted.len()`, h = (n − 1)·q, i = ⌊h⌋ and t = h − i (0-based indices):
///
/// ```text
/// Q(q) = x₍ᵢ₎ + t·(x₍ᵢ₊₁₎ − x₍ᵢ₎)
/// ```
///
/// The interpolation is evaluated like numpy's `_lerp` (from the upper neighbour when t ≥ ½), so
/// finite inputs give numpy's result bit for bit. When h is an integer the order statistic is
/// returned as is, so infinite values are handled (numpy returns NaN next to an infinity).
///
/// Returns NaN if `sorted` is empty, if `q` is not in [0, 1], or if the slice holds NaN (checked
/// at both ends, which is where `sort_by(f64::total_cmp)` puts NaN; numpy also returns NaN).
/// The slice must be sorted ascending; this is checked only in debug builds.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(
        sorted.windows(2).all(|w| w[0] <= w[1] || w[0].is_nan() || w[1].is_nan()),
        "quantile: input slice is not sorted ascending"
    );
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) || sorted[0].is_nan() || sorted[n - 1].is_nan() {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let floor = h.floor();
    let i = floor as usize;
    let t = h - floor;
    if t == 0.0 || i + 1 >= n {
        return sorted[i.min(n - 1)];
    }
    let (a, b) = (sorted[i], sorted[i + 1]);
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

/// Sample median of an ascending `sorted` slice: [`quantile`]`(sorted, 0.5)`, i.e. the middle
/// order statistic for odd n and the midpoint of the two middle ones for even n (numpy
/// `median`, Hyndman & Fan type 7). NaN for an empty slice or one holding NaN.
pub fn median(sorted: &[f64]) -> f64 {
    quantile(sorted, 0.5)
}

/// Difference of two paired proportions p_A − p_B from the 2×2 table of paired outcomes
/// (n11 = both success, n10 = only A, n01 = only B, n00 = neither), with the Agresti–Min (2005)
/// interval: add 0.5 to each of the four cells, then Wald. Returns `(estimate, interval)` where
/// estimate = (n10 − n01)/n (unadjusted).
///
/// With n = n11 + n10 + n01 + n00, b̃ = n10 + ½, c̃ = n01 + ½, ñ = n + 2 and z = [`z_for`]:
///
/// ```text
/// estimate = (n10 − n01) / n
/// d̃        = (b̃ − c̃) / ñ
/// se       = √((b̃ + c̃) − (b̃ − c̃)²/ñ) / ñ       ( = √((p̃₁₀ + p̃₀₁ − d̃²)/ñ) )
/// interval = [max(−1, d̃ − z·se), min(1, d̃ + z·se)]
/// ```
///
/// Source: Agresti & Min (2005), "Simple improved confidence intervals for comparing matched
/// proportions", *Stat. Med.* 24:729–740; same computation as R PropCIs `diffpropci.mp` and
/// contingencytables `Wald_CI_AgrestiMin_paired_2x2` (Fagerland, Lydersen & Laake 2017, ch. 8),
/// including the truncation to [−1, 1]. The interval is centred on the adjusted d̃, not on the
/// estimate, so it need not contain the estimate when the estimate is ±1 and the confidence is
/// low. With an empty table (n = 0) the estimate is NaN and the interval is `[−1, 1]`.
///
/// # Panics
/// If `confidence` is not strictly between 0 and 1.
pub fn paired_difference(n11: u64, n10: u64, n01: u64, n00: u64, confidence: f64) -> (f64, Interval) {
    let z = z_for(confidence);
    // Counts are summed in f64, exact up to 2^53.
    let n = n11 as f64 + n10 as f64 + n01 as f64 + n00 as f64;
    if n == 0.0 {
        return (f64::NAN, Interval { lo: -1.0, hi: 1.0 });
    }
    let estimate = (n10 as f64 - n01 as f64) / n;
    let b = n10 as f64 + 0.5;
    let c = n01 as f64 + 0.5;
    let nt = n + 2.0;
    let d = (b - c) / nt;
    let se = ((b + c) - (b - c) * (b - c) / nt).sqrt() / nt;
    let interval = Interval {
        lo: (d - z * se).max(-1.0),
        hi: (d + z * se).min(1.0),
    };
    (estimate, interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// |actual − expected| ≤ tol.
    fn assert_abs(actual: f64, expected: f64, tol: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tol,
            "{what}: got {actual:e}, expected {expected:e} (|diff| = {:e} > {tol:e})",
            (actual - expected).abs()
        );
    }

    /// |actual − expected| ≤ tol·|expected|.
    fn assert_rel(actual: f64, expected: f64, tol: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tol * expected.abs(),
            "{what}: got {actual:e}, expected {expected:e} (rel diff = {:e} > {tol:e})",
            ((actual - expected) / expected).abs()
        );
    }

    // ---- z ----

    #[test]
    fn z_for_default_is_exactly_z95() {
        assert_eq!(z_for(CONFIDENCE), Z95);
        assert_eq!(z_for(0.95), Z95);
    }

    #[test]
    fn z95_matches_statrs_normal_quantile() {
        // Z95 is Φ⁻¹(0.975) correctly rounded (mpmath, 40 digits: 1.959963984540054235…).
        let normal = statrs::distribution::Normal::standard();
        assert_abs(normal.inverse_cdf(0.975), Z95, 4e-16, "Normal quantile");
        // The general path (not the special case) agrees too.
        // The general path is 2 ulp off (1.9599639845400545), which is why z_for special-cases
        // the default level.
        let general = std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(0.05);
        assert_abs(general, Z95, 1e-15, "erfc_inv path");
    }

    #[test]
    fn z_for_other_levels_match_scipy() {
        // scipy 1.17.1 stats.norm.isf(alpha/2).
        for (conf, z) in [
            (0.90, 1.6448536269514729),
            (0.99, 2.575829303548901),
            (0.999, 3.2905267314918945),
            (0.50, 0.6744897501960817),
        ] {
            assert_rel(z_for(conf), z, 1e-14, &format!("z_for({conf})"));
        }
    }

    #[test]
    #[should_panic(expected = "confidence level")]
    fn z_for_rejects_one() {
        z_for(1.0);
    }

    #[test]
    #[should_panic(expected = "confidence level")]
    fn z_for_rejects_nan() {
        z_for(f64::NAN);
    }

    // ---- Wilson and Clopper–Pearson ----

    /// scipy/statsmodels, 95 % two-sided, scipy `binomtest(...).proportion_ci` and statsmodels
    /// `proportion_confint` (which agree to 10 digits): (x, n, Wilson lo, hi, CP lo, hi).
    const TABLE_3_3: [(u64, u64, f64, f64, f64, f64); 10] = [
        (7, 50, 0.0695083343, 0.2618619371, 0.0581917003, 0.2673960025),
        (81, 263, 0.2552885199, 0.3662095770, 0.2527367456, 0.3676219226),
        (15, 148, 0.0623863995, 0.1604872417, 0.0578440101, 0.1616504903),
        (0, 20, 0.0, 0.1611251581, 0.0, 0.1684334710),
        (1, 29, 0.0061132143, 0.1717552188, 0.0008726469, 0.1776442955),
        (0, 10, 0.0, 0.2775327999, 0.0, 0.3084971078),
        (5, 10, 0.2365930905, 0.7634069095, 0.1870860284, 0.8129139716),
        (10, 10, 0.7224672001, 1.0, 0.6915028922, 1.0),
        (0, 1000, 0.0, 0.0038267585, 0.0, 0.0036820839),
        (50, 100, 0.4038315304, 0.5961684696, 0.3983211295, 0.6016788705),
    ];

    #[test]
    fn wilson_matches_formulas_table() {
        for (x, n, lo, hi, _, _) in TABLE_3_3 {
            let ci = wilson(x, n, 0.95);
            assert_abs(ci.lo, lo, 1e-9, &format!("Wilson lo {x}/{n}"));
            assert_abs(ci.hi, hi, 1e-9, &format!("Wilson hi {x}/{n}"));
        }
    }

    #[test]
    fn clopper_pearson_matches_formulas_table() {
        for (x, n, _, _, lo, hi) in TABLE_3_3 {
            let ci = clopper_pearson(x, n, 0.95);
            assert_abs(ci.lo, lo, 1e-9, &format!("CP lo {x}/{n}"));
            assert_abs(ci.hi, hi, 1e-9, &format!("CP hi {x}/{n}"));
        }
    }

    #[test]
    fn clopper_pearson_scipy_documented_vector() {
        // scipy docs, `binomtest(k=7, n=50, p=0.1).proportion_ci()`:
        // (0.05819170033997342, 0.26739600249700846) (scipy/statsmodels).
        let ci = clopper_pearson(7, 50, CONFIDENCE);
        assert_abs(ci.lo, 0.05819170033997342, 1e-12, "CP lo 7/50");
        assert_abs(ci.hi, 0.26739600249700846, 1e-12, "CP hi 7/50");
    }

    #[test]
    fn intervals_at_other_confidence_levels_match_statsmodels() {
        // statsmodels 0.15.0 proportion_confint(x, n, alpha, method="wilson" / "beta").
        let cases = [
            (
                0.90,
                7,
                50,
                [0.07772089782062995, 0.2392389959454846],
                [0.06759669900355719, 0.24693520173120923],
            ),
            (
                0.90,
                1,
                29,
                [0.007730807972737994, 0.14068309513251215],
                [0.0017671710005495351, 0.15339202452618272],
            ),
            (0.90, 0, 10, [0.0, 0.2129419700834071], [0.0, 0.2588655508930523]),
            (
                0.99,
                7,
                50,
                [0.05614371860633746, 0.30820578743035465],
                [0.04246878737883438, 0.30910696596481874],
            ),
            (
                0.99,
                1,
                29,
                [0.0040614941968838, 0.23825425313641296],
                [0.0001728313327215184, 0.22960030657503938],
            ),
            (0.99, 0, 10, [0.0, 0.3988540933049081], [0.0, 0.4112959813475253]),
        ];
        for (conf, x, n, w, cp) in cases {
            let ci = wilson(x, n, conf);
            assert_abs(ci.lo, w[0], 1e-12, &format!("Wilson lo {x}/{n} @{conf}"));
            assert_abs(ci.hi, w[1], 1e-12, &format!("Wilson hi {x}/{n} @{conf}"));
            let ci = clopper_pearson(x, n, conf);
            assert_abs(ci.lo, cp[0], 1e-12, &format!("CP lo {x}/{n} @{conf}"));
            assert_abs(ci.hi, cp[1], 1e-12, &format!("CP hi {x}/{n} @{conf}"));
        }
    }

    #[test]
    fn edges_are_exact() {
        for n in [1u64, 2, 10, 20, 1000, 1_000_000] {
            assert_eq!(wilson(0, n, 0.95).lo, 0.0);
            assert_eq!(wilson(n, n, 0.95).hi, 1.0);
            assert_eq!(clopper_pearson(0, n, 0.95).lo, 0.0);
            assert_eq!(clopper_pearson(n, n, 0.95).hi, 1.0);
        }
        let empty = Interval { lo: 0.0, hi: 1.0 };
        assert_eq!(wilson(0, 0, 0.95), empty);
        assert_eq!(clopper_pearson(0, 0, 0.95), empty);
    }

    #[test]
    fn clopper_pearson_one_sided_closed_forms() {
        // 0/n: hi = 1 − 0.025^(1/n); n/n: lo = 0.025^(1/n). Values from scipy/statsmodels
        // (0/20, 0/10, 10/10, 0/1000) and, for n = 1, 1 − 0.025 = 0.975 by hand.
        assert_abs(clopper_pearson(0, 1, 0.95).hi, 0.975, 1e-15, "0/1 hi");
        assert_abs(clopper_pearson(1, 1, 0.95).lo, 0.025, 1e-15, "1/1 lo");
        // 0/1e6: scipy stats.beta.ppf(0.975, 1, 1e6) = 3.688872650206488e-06.
        assert_rel(clopper_pearson(0, 1_000_000, 0.95).hi, 3.688872650206488e-06, 1e-12, "0/1e6");
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn wilson_rejects_x_above_n() {
        wilson(3, 2, 0.95);
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn clopper_pearson_rejects_x_above_n() {
        clopper_pearson(3, 2, 0.95);
    }

    // ---- McNemar ----

    #[test]
    fn mcnemar_textbook_vector() {
        // scipy/statsmodels: Agresti (1990) presidential approval, b = 150, c = 86.
        let t = mcnemar(150, 86);
        assert_eq!((t.b, t.c), (150, 86));
        assert_abs(t.chi2_cc, 16.8177966102, 1e-9, "chi2_cc");
        assert_rel(t.chi2_cc_p, 4.114562281e-05, 1e-8, "chi2_cc_p");
        assert_abs(t.chi2, 17.3559322034, 1e-9, "chi2");
        assert_rel(t.chi2_p, 3.099293441e-05, 1e-8, "chi2_p");
        assert_rel(t.exact_p, 3.7159361396e-05, 1e-8, "exact_p");
        assert_rel(t.mid_p, 2.8933895176e-05, 1e-8, "mid_p");
        // Full-precision scipy/statsmodels values for the same table.
        assert_rel(t.exact_p, 3.7159361395713866e-05, 1e-11, "exact_p full");
        assert_rel(t.mid_p, 2.893389517615428e-05, 1e-11, "mid_p full");
        assert_rel(t.chi2_cc_p, 4.114562281345944e-05, 1e-11, "chi2_cc_p full");
        assert_rel(t.chi2_p, 3.099293441045215e-05, 1e-11, "chi2_p full");
    }

    #[test]
    fn mcnemar_small_vectors() {
        // scipy/statsmodels small vectors: (b, c, exact, mid, chi2, chi2_p, chi2_cc, chi2_cc_p).
        let t = mcnemar(3, 10);
        assert_rel(t.exact_p, 0.09228515625, 1e-12, "3,10 exact"); // 2·378/8192
        assert_rel(t.mid_p, 0.057373046875, 1e-12, "3,10 mid");
        assert_abs(t.chi2, 3.7692307692, 1e-9, "3,10 chi2");
        assert_rel(t.chi2_p, 0.0522036353, 1e-8, "3,10 chi2_p");
        assert_abs(t.chi2_cc, 2.7692307692, 1e-9, "3,10 chi2_cc");
        assert_rel(t.chi2_cc_p, 0.0960923295, 1e-8, "3,10 chi2_cc_p");

        let t = mcnemar(0, 5);
        assert_rel(t.exact_p, 0.0625, 1e-12, "0,5 exact");
        assert_rel(t.mid_p, 0.03125, 1e-12, "0,5 mid");
        assert_abs(t.chi2, 5.0, 1e-12, "0,5 chi2");
        assert_rel(t.chi2_p, 0.0253473187, 1e-8, "0,5 chi2_p");
        assert_abs(t.chi2_cc, 3.2, 1e-12, "0,5 chi2_cc");
        assert_rel(t.chi2_cc_p, 0.0736382701, 1e-8, "0,5 chi2_cc_p");

        // Cardillo's MATLAB example prints cc χ² = 20.672222.
        let t = mcnemar(59, 121);
        assert_rel(t.exact_p, 4.4344492638e-06, 1e-8, "59,121 exact");
        assert_abs(t.chi2, 21.3555555556, 1e-9, "59,121 chi2");
        assert_rel(t.chi2_p, 3.8151358651e-06, 1e-8, "59,121 chi2_p");
        assert_abs(t.chi2_cc, 20.6722222222, 1e-9, "59,121 chi2_cc");
        assert_rel(t.chi2_cc_p, 5.4500948254e-06, 1e-8, "59,121 chi2_cc_p");
        // scipy: 2·binom.cdf(59, 180, ½) − binom.pmf(59, 180, ½).
        assert_rel(t.mid_p, 3.2666467957745733e-06, 1e-10, "59,121 mid");

        // scipy/statsmodels, a further vector: b = 7, c = 3.
        let t = mcnemar(7, 3);
        assert_rel(t.exact_p, 0.34375, 1e-12, "7,3 exact");
        assert_rel(t.mid_p, 0.2265625, 1e-12, "7,3 mid");
        assert_rel(t.chi2_p, 0.20590321073206466, 1e-12, "7,3 chi2_p");
        assert_rel(t.chi2_cc_p, 0.34278171114790873, 1e-12, "7,3 chi2_cc_p");
    }

    #[test]
    fn mcnemar_degenerate_tables() {
        // b + c = 0: defined as p = 1 everywhere, statistics 0 (scipy/statsmodels).
        let t = mcnemar(0, 0);
        assert_eq!(
            t,
            McNemar {
                b: 0,
                c: 0,
                exact_p: 1.0,
                mid_p: 1.0,
                chi2: 0.0,
                chi2_p: 1.0,
                chi2_cc: 0.0,
                chi2_cc_p: 1.0
            }
        );
        // b = c = 1: statsmodels continuity correction χ² = (0 − 1)²/2 = 0.5, p = 0.4795001222.
        let t = mcnemar(1, 1);
        assert_eq!((t.exact_p, t.mid_p, t.chi2, t.chi2_p), (1.0, 1.0, 0.0, 1.0));
        assert_abs(t.chi2_cc, 0.5, 1e-15, "1,1 chi2_cc");
        assert_rel(t.chi2_cc_p, 0.4795001222, 1e-8, "1,1 chi2_cc_p");
        // b = 1, c = 0: cc statistic (1 − 1)²/1 = 0 → p = 1; uncorrected p = 0.31731050786291115.
        let t = mcnemar(1, 0);
        assert_eq!((t.exact_p, t.chi2_cc, t.chi2_cc_p), (1.0, 0.0, 1.0));
        assert_rel(t.mid_p, 0.5, 1e-15, "1,0 mid");
        assert_rel(t.chi2_p, 0.31731050786291115, 1e-12, "1,0 chi2_p");
    }

    #[test]
    fn mcnemar_is_symmetric_in_b_and_c() {
        let (x, y) = (mcnemar(150, 86), mcnemar(86, 150));
        assert_eq!(
            (x.exact_p, x.mid_p, x.chi2, x.chi2_p, x.chi2_cc, x.chi2_cc_p),
            (y.exact_p, y.mid_p, y.chi2, y.chi2_p, y.chi2_cc, y.chi2_cc_p)
        );
    }

    // ---- Holm ----

    #[test]
    fn holm_hand_worked_example() {
        // m = 4; sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04;
        // running max 0.02, 0.03, 0.06, 0.06; back in input order [0.03, 0.06, 0.06, 0.02]
        // (statsmodels multipletests(method="holm") gives the same).
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (a, e) in adj.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert_abs(*a, e, 1e-15, "holm");
        }
    }

    #[test]
    fn holm_matches_statsmodels_with_ties_and_cap() {
        // statsmodels 0.15.0 multipletests([0.2, 0.01, 0.9, 0.04, 0.04, 0.5], method="holm").
        let adj = holm(&[0.2, 0.01, 0.9, 0.04, 0.04, 0.5]);
        let expected = [0.6000000000000001, 0.06, 1.0, 0.2, 0.2, 1.0];
        for (a, e) in adj.iter().zip(expected) {
            assert_abs(*a, e, 1e-15, "holm");
        }
    }

    #[test]
    fn holm_nan_passes_through_and_is_not_counted() {
        // Without the NaN this is the hand-worked example (m = 4, not 5).
        let adj = holm(&[0.01, f64::NAN, 0.04, 0.03, 0.005]);
        assert!(adj[1].is_nan());
        for (a, e) in [adj[0], adj[2], adj[3], adj[4]].iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert_abs(*a, e, 1e-15, "holm with NaN");
        }
        assert!(holm(&[]).is_empty());
        assert!(holm(&[f64::NAN])[0].is_nan());
        assert_eq!(holm(&[0.3]), vec![0.3]);
    }

    // ---- quantiles ----

    #[test]
    fn quantile_matches_numpy() {
        // numpy 2.4.6: np.quantile(s, q) for s = sorted([3.5, -1, 2, 7.25, 0, 10, 4]).
        let s = [-1.0, 0.0, 2.0, 3.5, 4.0, 7.25, 10.0];
        for (q, e) in [
            (0.0, -1.0),
            (0.1, -0.3999999999999999),
            (0.25, 1.0),
            (0.33, 1.96),
            (0.5, 3.5),
            (0.75, 5.625),
            (0.9, 8.350000000000001),
            (0.99, 9.834999999999999),
            (1.0, 10.0),
        ] {
            assert_eq!(quantile(&s, q), e, "quantile q = {q}");
        }
        assert_eq!(median(&s), 3.5);
        // Even length: np.median = np.quantile(., .5) = 3.0; q = .1, .3, .7 from numpy.
        let s = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(median(&s), 3.0);
        assert_eq!(quantile(&s, 0.1), 1.3);
        assert_eq!(quantile(&s, 0.3), 1.9);
        assert_eq!(quantile(&s, 0.7), 4.399999999999999);
        assert_eq!(quantile(&[42.0], 0.3), 42.0);
    }

    #[test]
    fn quantile_degenerate_inputs() {
        assert!(quantile(&[], 0.5).is_nan());
        assert!(median(&[]).is_nan());
        assert!(quantile(&[1.0, 2.0], -0.1).is_nan());
        assert!(quantile(&[1.0, 2.0], 1.1).is_nan());
        assert!(quantile(&[1.0, 2.0], f64::NAN).is_nan());
        assert!(median(&[1.0, f64::NAN]).is_nan());
        // Integral positions return the order statistic itself, even next to an infinity.
        assert_eq!(quantile(&[1.0, f64::INFINITY], 0.0), 1.0);
        assert_eq!(quantile(&[1.0, f64::INFINITY], 1.0), f64::INFINITY);
        assert_eq!(quantile(&[f64::NEG_INFINITY, 1.0], 0.5), f64::NEG_INFINITY);
    }

    // ---- paired difference (Agresti–Min) ----

    #[test]
    fn paired_difference_hand_computation() {
        // Bentur et al. (2009) table [[1, 1], [7, 12]] (Fagerland, Lydersen & Laake 2017, ch. 8):
        // n11 = 1, n10 = 1, n01 = 7, n00 = 12, n = 21.
        //   estimate = (1 − 7)/21 = −0.285714285714…
        //   b̃ = 1.5, c̃ = 7.5, ñ = 23, d̃ = −6/23 = −0.260869565217…
        //   se = √(9 − 36/23)/23 = √7.434782608…/23 = 2.726679…/23 = 0.118551294671…
        //   lo = d̃ − 1.959963984540054·se = −0.493225833094, hi = d̃ + z·se = −0.028513297341
        // (the same formula evaluated in Python: −0.4932258330936713, −0.0285132973411113).
        let (est, ci) = paired_difference(1, 1, 7, 12, 0.95);
        assert_abs(est, -6.0 / 21.0, 1e-15, "Bentur estimate");
        assert_abs(ci.lo, -0.4932258330936713, 1e-12, "Bentur lo");
        assert_abs(ci.hi, -0.0285132973411113, 1e-12, "Bentur hi");

        // Cavo et al. (2012) table [[59, 6], [16, 80]]: n = 161, estimate = −10/161;
        // b̃ = 6.5, c̃ = 16.5, ñ = 163, d̃ = −10/163, se = √(23 − 100/163)/163 = 0.0290272253858;
        // interval −0.118242009579 … −0.004457376924.
        let (est, ci) = paired_difference(59, 6, 16, 80, 0.95);
        assert_abs(est, -10.0 / 161.0, 1e-15, "Cavo estimate");
        assert_abs(ci.lo, -0.11824200957882669, 1e-12, "Cavo lo");
        assert_abs(ci.hi, -0.004457376924240794, 1e-12, "Cavo hi");

        // All discordant pairs favour A (n10 = 5 of 5): estimate 1; b̃ = 5.5, c̃ = 0.5, ñ = 7,
        // d̃ = 5/7, se = √(6 − 25/7)/7 = 0.222626777850; hi = 0.714 + 0.436 > 1 → truncated to 1.
        let (est, ci) = paired_difference(0, 5, 0, 0, 0.95);
        assert_eq!(est, 1.0);
        assert_abs(ci.lo, 0.2779452477060862, 1e-12, "all-A lo");
        assert_eq!(ci.hi, 1.0);

        // No discordant pairs: d̃ = 0, se = √1/9, interval ±z/9 = ±0.217773776060006.
        let (est, ci) = paired_difference(3, 0, 0, 4, 0.95);
        assert_eq!(est, 0.0);
        assert_abs(ci.hi, Z95 / 9.0, 1e-15, "no-discordant hi");
        assert_abs(ci.lo, -Z95 / 9.0, 1e-15, "no-discordant lo");

        let (est, ci) = paired_difference(0, 0, 0, 0, 0.95);
        assert!(est.is_nan());
        assert_eq!(ci, Interval { lo: -1.0, hi: 1.0 });
    }

    // ---- laws ----

    fn x_and_n() -> impl Strategy<Value = (u64, u64)> {
        (0u64..5000).prop_flat_map(|n| (0..=n, Just(n)))
    }

    fn confidence() -> impl Strategy<Value = f64> {
        prop_oneof![Just(0.95), 0.5f64..0.9999]
    }

    proptest! {
        #[test]
        fn wilson_contains_point_estimate_and_stays_in_unit_interval(
            (x, n) in x_and_n(), conf in confidence()
        ) {
            let ci = wilson(x, n, conf);
            prop_assert!(0.0 <= ci.lo && ci.lo <= ci.hi && ci.hi <= 1.0);
            if n > 0 {
                let p = x as f64 / n as f64;
                prop_assert!(ci.lo <= p && p <= ci.hi, "{ci:?} misses {p}");
            }
        }

        #[test]
        fn clopper_pearson_contains_point_estimate_and_stays_in_unit_interval(
            (x, n) in x_and_n(), conf in confidence()
        ) {
            let ci = clopper_pearson(x, n, conf);
            prop_assert!(0.0 <= ci.lo && ci.lo <= ci.hi && ci.hi <= 1.0);
            if n > 0 {
                let p = x as f64 / n as f64;
                prop_assert!(ci.lo <= p && p <= ci.hi, "{ci:?} misses {p}");
            }
        }

        #[test]
        fn intervals_are_mirror_symmetric((x, n) in x_and_n()) {
            // Swapping successes and failures reflects the interval about ½.
            for f in [wilson, clopper_pearson] {
                let (a, b) = (f(x, n, 0.95), f(n - x, n, 0.95));
                prop_assert!((a.lo - (1.0 - b.hi)).abs() < 1e-12);
                prop_assert!((a.hi - (1.0 - b.lo)).abs() < 1e-12);
            }
        }

        #[test]
        fn holm_is_between_input_and_one_and_monotone(
            p in proptest::collection::vec(0.0f64..=1.0, 0..40)
        ) {
            let adj = holm(&p);
            prop_assert_eq!(adj.len(), p.len());
            for (a, raw) in adj.iter().zip(&p) {
                prop_assert!(*a >= *raw && *a <= 1.0);
            }
            for i in 0..p.len() {
                for j in 0..p.len() {
                    if p[i] <= p[j] {
                        prop_assert!(adj[i] <= adj[j]);
                    }
                }
            }
        }

        #[test]
        fn mcnemar_p_values_are_probabilities(b in 0u64..3000, c in 0u64..3000) {
            let t = mcnemar(b, c);
            for p in [t.exact_p, t.mid_p, t.chi2_p, t.chi2_cc_p] {
                prop_assert!((0.0..=1.0).contains(&p), "{t:?}");
            }
            prop_assert!(t.mid_p <= t.exact_p);
            prop_assert!(t.chi2_cc <= t.chi2 || b == c);
        }

        #[test]
        fn quantile_is_monotone_and_bounded(
            mut v in proptest::collection::vec(-1e6f64..1e6, 1..50),
            q1 in 0.0f64..=1.0, q2 in 0.0f64..=1.0
        ) {
            v.sort_by(f64::total_cmp);
            let (lo, hi) = (q1.min(q2), q1.max(q2));
            let (a, b) = (quantile(&v, lo), quantile(&v, hi));
            prop_assert!(v[0] <= a && a <= b && b <= v[v.len() - 1]);
        }

        #[test]
        fn paired_difference_is_antisymmetric_and_bounded(
            n11 in 0u64..500, n10 in 0u64..500, n01 in 0u64..500, n00 in 0u64..500
        ) {
            let (e, ci) = paired_difference(n11, n10, n01, n00, 0.95);
            let (e2, ci2) = paired_difference(n11, n01, n10, n00, 0.95);
            prop_assert!(-1.0 <= ci.lo && ci.lo <= ci.hi && ci.hi <= 1.0);
            if n11 + n10 + n01 + n00 > 0 {
                prop_assert_eq!(e, -e2);
                prop_assert!((ci.lo + ci2.hi).abs() < 1e-15 && (ci.hi + ci2.lo).abs() < 1e-15);
            }
        }
    }
}
