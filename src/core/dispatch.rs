//! Picks the widest SIMD instruction set the CPU has for the lane kernels, at run time.
//!
//! The same generic code (`Trainer::run_lanes::<LANES>`) is compiled three times — baseline
//! x86-64 (SSE2), AVX2+FMA and AVX-512 — and one is chosen per call. The kernels use only
//! correctly rounded element-wise operations, their fused multiply-adds written out explicitly
//! (`Lanes::mul_add`), so all three give the same bits: the AVX2/AVX-512 builds turn each into
//! one `vfmadd` instruction, the baseline build into a call of the C library's `fma`
//! (correctly rounded whether the CPU has an FMA unit or not; scalar, so several times slower —
//! it only runs on x86-64 CPUs without AVX2/FMA, i.e. from before 2013, and in checks).
//!
//! On AVX-512 and AVX2, networks of one or two hidden layers trained by online or full-batch
//! SGD (with batch norm: full batches) go to the fused kernels (`super::fused`), in groups of
//! one or two registers (8 or 16 lanes on AVX-512, per kernel; 8 lanes, two registers, on
//! AVX2): the same operations in the same order, so
//! the same bits as the generic code. Every kernel of a level is its own function compiled for
//! that level's features (`on_avx512`, `on_avx2`); no code of a kernel may sit in a closure
//! or a non-inlined helper, which would be compiled for the baseline instead.

use super::fused::{self, ANY, Fused, NONE, RELU, SIGMOID};
use super::simd::X2;
use super::train::{Generic, Kernel, OnResult, RunResult, Trainer};

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
    pub fn run_many(&self, seeds: &[u64], mut on_result: impl FnMut(usize, RunResult)) {
        run_many(self, seeds, &mut on_result)
    }
}

/// Not generic over the callback (called once per run): the kernels are compiled once, not
/// once per caller.
#[inline(never)]
pub(crate) fn run_many(t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) {
    #[cfg(target_arch = "x86_64")]
    {
        match simd_level() {
            // SAFETY: the CPU supports the features these functions were compiled for.
            "avx512" => return unsafe { run_avx512(t, seeds, on_result) },
            "avx2" => return unsafe { run_avx2(t, seeds, on_result) },
            _ => {}
        }
    }
    baseline(t, seeds, on_result)
}

/// The portable kernel (also used to check the others give identical bits).
pub fn run_baseline(t: &Trainer, seeds: &[u64], mut on_result: impl FnMut(usize, RunResult)) {
    baseline(t, seeds, &mut on_result)
}

#[inline(never)]
fn baseline(t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) {
    t.run_lanes::<LANES>(seeds, None, on_result)
}

/// Calls `$m!(…; table)` with the table of fused kernels: (units of the first hidden layer, of
/// the second (0: none), outputs; activation codes of the first hidden layer, the second
/// ([`NONE`]), the output; `one` or `two` registers per lane group on AVX-512, see
/// `fused_or_generic!`). Each is another copy of the kernel in the binary (compile time), so
/// only the article's shapes have one: 1-4-2 (one-hot targets) with its three activation pairs
/// fixed and any other pair, 1-4-1 (binary), 1-2-2 and 1-8-2 with any pair, and 1-4-4-2 with the
/// article's relu-sigmoid-sigmoid fixed and any other triple. Batch norm (full batches) is a
/// run-time switch in each.
macro_rules! with_fused_table {
    ($m:ident!($($args:tt)*)) => {
        $m!($($args)*;
            (4, 0, 2, RELU, NONE, SIGMOID, two),
            (4, 0, 2, RELU, NONE, RELU, one),
            (4, 0, 2, SIGMOID, NONE, SIGMOID, two),
            (4, 0, 2, ANY, NONE, ANY, two),
            (4, 0, 1, ANY, NONE, ANY, two),
            (2, 0, 2, ANY, NONE, ANY, two),
            (8, 0, 2, ANY, NONE, ANY, two),
            (4, 4, 2, RELU, SIGMOID, SIGMOID, one),
            (4, 4, 2, ANY, ANY, ANY, one),
        )
    };
}

/// Trains with the first fused kernel of the table that applies to `t`, else with the generic
/// kernels in groups of [`LANES`] — each kernel through `$run`, its own function compiled for
/// the level's instruction set (one function per kernel keeps each one small enough for LLVM
/// to compile quickly and allocate registers well). A kernel's last column picks its group:
/// `one` register (`$v1`, `$n1` lanes) or `two` (`$v2`, `$n2`). Two registers are two
/// independent dependency chains; one is half the code and half the live values, which wins
/// for the larger networks (1-4-4-2: 38 parameters, 76 registers' worth as two) and for
/// ReLU-ReLU (measured on AVX-512; AVX2 takes two registers for both). Same bits either way.
macro_rules! fused_or_generic {
    ($run:ident, [$v1:ty, $n1:literal], [$v2:ty, $n2:literal], $t:ident, $seeds:ident, $on_result:ident;
     $(($h:literal, $h2:literal, $o:literal, $ha:ident, $ma:ident, $oa:ident, $regs:ident)),* $(,)?) => {{
        $(
            if fused::applies($t, $h, $h2, $o, $ha, $ma, $oa) {
                return fused_or_generic!(@on $regs, $run, [$v1, $n1], [$v2, $n2], ($h, $h2, $o, $ha, $ma, $oa), $t, $seeds, $on_result);
            }
        )*
        // SAFETY: the caller checked that the CPU has the level's features.
        unsafe { $run::<LANES, Generic>($t, $seeds, $on_result) }
    }};
    (@on one, $run:ident, [$v1:ty, $n1:literal], [$v2:ty, $n2:literal], ($($k:tt),*), $t:ident, $seeds:ident, $on_result:ident) => {
        // SAFETY: the caller checked that the CPU has the level's features.
        unsafe { $run::<$n1, Fused<$v1, $n1, $($k),*>>($t, $seeds, $on_result) }
    };
    (@on two, $run:ident, [$v1:ty, $n1:literal], [$v2:ty, $n2:literal], ($($k:tt),*), $t:ident, $seeds:ident, $on_result:ident) => {
        // SAFETY: the caller checked that the CPU has the level's features.
        unsafe { $run::<$n2, Fused<$v2, $n2, $($k),*>>($t, $seeds, $on_result) }
    };
}

/// Runs on the kernel level `level` ("avx2" or "avx512") if this CPU has it, else returns
/// false: for the check that every level gives the same bits, on whatever CPU runs the tests.
#[cfg(test)]
pub(crate) fn run_level(level: &str, t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        match level {
            // SAFETY: the CPU supports the features these functions were compiled for.
            "avx2" if avx2 => {
                unsafe { run_avx2(t, seeds, on_result) };
                return true;
            }
            "avx512" if simd_level() == "avx512" => {
                unsafe { run_avx512(t, seeds, on_result) };
                return true;
            }
            _ => {}
        }
    }
    let _ = (level, t, seeds, on_result);
    false
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
unsafe fn run_avx2(t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) {
    use std::arch::x86_64::__m256d;
    with_fused_table!(fused_or_generic!(on_avx2, [X2<__m256d>, 8], [X2<__m256d>, 8], t, seeds, on_result))
}

/// # Safety
/// The CPU has AVX-512 (F, DQ, VL) and FMA.
#[cfg(target_arch = "x86_64")]
unsafe fn run_avx512(t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) {
    use std::arch::x86_64::__m512d;
    with_fused_table!(fused_or_generic!(on_avx512, [__m512d, 8], [X2<__m512d>, 16], t, seeds, on_result))
}

/// Kernel `K` in groups of `N` lanes, compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx2,fma")]
unsafe fn on_avx2<const N: usize, K: Kernel<N>>(t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) {
    t.run_lanes_with::<N, K>(seeds, None, on_result)
}

/// Kernel `K` in groups of `N` lanes, compiled for AVX-512 + FMA.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
unsafe fn on_avx512<const N: usize, K: Kernel<N>>(t: &Trainer, seeds: &[u64], on_result: OnResult<'_>) {
    t.run_lanes_with::<N, K>(seeds, None, on_result)
}
