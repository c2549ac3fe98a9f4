//! Picks the widest SIMD instruction set the CPU has for the lane kernels, at run time.
//!
//! The same generic code (`Trainer::run_lanes::<LANES>`) is compiled three times — baseline
//! x86-64 (SSE2), AVX2+FMA and AVX-512 — and one is chosen per call. The kernels use only
//! correctly rounded element-wise operations, their fused multiply-adds written out explicitly
//! (`Lanes::mul_add`), so all three give the same bits: the AVX2/AVX-512 builds turn each into
//! one `vfmadd` instruction, the baseline build into a call of the C library's `fma`
//! (correctly rounded whether the CPU has an FMA unit or not; scalar, so several times slower —
//! it only runs on x86-64 CPUs without AVX2/FMA, i.e. from before 2013, and in checks).

use super::train::{RunResult, Trainer};

/// Replicates trained side by side in one group (16 f64 = two AVX-512 registers, four AVX2 registers).
pub const LANES: usize = 16;

/// Which kernel `run_many` uses on this CPU.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("fma")
        {
            return "avx512";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2";
        }
    }
    "baseline"
}

impl Trainer {
    /// Trains every seed in `seeds`, `LANES` at a time in SIMD lanes, and reports
    /// `(index into seeds, result)` as each finishes. A finished lane is refilled with the next
    /// seed at once, so early stopping stays per replicate. Results are bit-identical to
    /// [`Trainer::run`] for every seed, whatever `LANES` is.
    pub fn run_many(&self, seeds: &[u64], on_result: impl FnMut(usize, RunResult)) {
        run_many(self, seeds, on_result)
    }
}

pub(crate) fn run_many(t: &Trainer, seeds: &[u64], on_result: impl FnMut(usize, RunResult)) {
    #[cfg(target_arch = "x86_64")]
    {
        match simd_level() {
            // SAFETY: the CPU supports the features these functions were compiled for.
            "avx512" => return unsafe { run_avx512(t, seeds, on_result) },
            "avx2" => return unsafe { run_avx2(t, seeds, on_result) },
            _ => {}
        }
    }
    run_baseline(t, seeds, on_result)
}

/// The portable kernel (also used to check the others give identical bits).
pub fn run_baseline(t: &Trainer, seeds: &[u64], on_result: impl FnMut(usize, RunResult)) {
    t.run_lanes::<LANES>(seeds, None, on_result)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(t: &Trainer, seeds: &[u64], on_result: impl FnMut(usize, RunResult)) {
    t.run_lanes::<LANES>(seeds, None, on_result)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
unsafe fn run_avx512(t: &Trainer, seeds: &[u64], on_result: impl FnMut(usize, RunResult)) {
    t.run_lanes::<LANES>(seeds, None, on_result)
}
