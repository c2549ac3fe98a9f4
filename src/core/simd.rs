//! One SIMD register of `N` f64 lanes, for the fused kernels (`super::fused`).
//!
//! The generic kernels compute on [`Lanes`] arrays and leave the vectorisation to LLVM, which
//! does well while they live in memory. A fused kernel keeps a whole network in registers,
//! and there LLVM splits the arrays into scalars and reassembles them with shuffles; so the
//! fused kernels are written on this trait, whose operations are single instructions: AVX-512
//! (`__m512d`, 8 lanes) and AVX2 (`__m256d`, 4 lanes), plus [`Lanes`] itself (any `N`, for
//! tests and as the reference). Every operation is the IEEE-754 element-wise operation the
//! generic kernels use (comparisons ordered and quiet, as Rust's `>` and `<`), so a fused
//! kernel gives the same bits on every implementation.
//!
//! The x86 implementations call `core::arch` intrinsics; they are only ever inlined into the
//! `#[target_feature]` entry points of `super::dispatch`, which check the CPU first.

use super::lanes::Lanes;

pub(crate) trait Simd<const N: usize>: Copy {
    fn splat(x: f64) -> Self;
    fn load(l: &Lanes<N>) -> Self;
    fn lanes(self) -> Lanes<N>;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// The correctly rounded square root.
    fn sqrt(self) -> Self;
    /// `self·b + c` with one rounding.
    fn fma(self, b: Self, c: Self) -> Self;
    /// `-self` (the sign bit flipped, as Rust's unary minus).
    fn neg(self) -> Self;
    /// `self > b ? yes : no`, element-wise (false for NaN).
    fn gt_sel(self, b: Self, yes: Self, no: Self) -> Self;
    /// `self < b ? yes : no`, element-wise (false for NaN).
    fn lt_sel(self, b: Self, yes: Self, no: Self) -> Self;
    /// 1.0 where the lane is NaN, else 0.0.
    fn nan_flag(self) -> Self;
    /// The bits shifted left by 52 (an integer-valued double biased by 2⁵² becomes 2^k).
    fn shl52(self) -> Self;

    /// `self < lo ? lo : self` (NaN stays NaN): [`Simd::lt_sel`], one instruction on x86.
    #[inline(always)]
    fn at_least(self, lo: Self) -> Self {
        self.lt_sel(lo, lo, self)
    }
    /// `self > hi ? hi : self` (NaN stays NaN): [`Simd::gt_sel`], one instruction on x86.
    #[inline(always)]
    fn at_most(self, hi: Self) -> Self {
        self.gt_sel(hi, hi, self)
    }

    #[inline(always)]
    fn zero() -> Self {
        Self::splat(0.0)
    }
    /// `self > b ? self : b` ([`Lanes::max_of`]).
    #[inline(always)]
    fn max_of(self, b: Self) -> Self {
        self.gt_sel(b, self, b)
    }
    /// `self > 0 ? yes : no` ([`Lanes::select_pos`]).
    #[inline(always)]
    fn select_pos(self, yes: Self, no: Self) -> Self {
        self.gt_sel(Self::zero(), yes, no)
    }
}

impl<const N: usize> Simd<N> for Lanes<N> {
    #[inline(always)]
    fn splat(x: f64) -> Self {
        Lanes::splat(x)
    }
    #[inline(always)]
    fn load(l: &Lanes<N>) -> Self {
        *l
    }
    #[inline(always)]
    fn lanes(self) -> Lanes<N> {
        self
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self - o
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        self * o
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        self / o
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Lanes::sqrt(self)
    }
    #[inline(always)]
    fn fma(self, b: Self, c: Self) -> Self {
        self.mul_add(b, c)
    }
    #[inline(always)]
    fn neg(self) -> Self {
        -self
    }
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn gt_sel(self, b: Self, yes: Self, no: Self) -> Self {
        let mut out = no.0;
        for k in 0..N {
            if self.0[k] > b.0[k] {
                out[k] = yes.0[k];
            }
        }
        Lanes(out)
    }
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn lt_sel(self, b: Self, yes: Self, no: Self) -> Self {
        let mut out = no.0;
        for k in 0..N {
            if self.0[k] < b.0[k] {
                out[k] = yes.0[k];
            }
        }
        Lanes(out)
    }
    #[inline(always)]
    fn nan_flag(self) -> Self {
        self.map(|v| if v.is_nan() { 1.0 } else { 0.0 })
    }
    #[inline(always)]
    fn shl52(self) -> Self {
        self.map(|v| f64::from_bits(v.to_bits() << 52))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Lanes, Simd};

    /// Implements [`Simd`] for one x86 register type from its intrinsics.
    macro_rules! x86_simd {
        ($t:ty, $n:literal,
         set1 = $set1:ident, loadu = $loadu:ident, storeu = $storeu:ident,
         add = $add:ident, sub = $sub:ident, mul = $mul:ident, div = $div:ident, sqrt = $sqrt:ident,
         fmadd = $fmadd:ident, xor = $xor:ident, max = $max:ident, min = $min:ident, sel_gt = |$a:ident, $b:ident, $y:ident, $no:ident, $c:ident| $sel:expr,
         sll = $sll:ident, casti = $casti:ident, castd = $castd:ident) => {
            impl Simd<$n> for $t {
                #[inline(always)]
                fn splat(x: f64) -> Self {
                    unsafe { $set1(x) }
                }
                #[inline(always)]
                fn load(l: &Lanes<$n>) -> Self {
                    // SAFETY: `Lanes<N>` is N contiguous f64; unaligned load.
                    unsafe { $loadu(l.0.as_ptr()) }
                }
                #[inline(always)]
                fn lanes(self) -> Lanes<$n> {
                    let mut l = Lanes([0.0; $n]);
                    // SAFETY: as in `load`.
                    unsafe { $storeu(l.0.as_mut_ptr(), self) };
                    l
                }
                #[inline(always)]
                fn add(self, o: Self) -> Self {
                    unsafe { $add(self, o) }
                }
                #[inline(always)]
                fn sub(self, o: Self) -> Self {
                    unsafe { $sub(self, o) }
                }
                #[inline(always)]
                fn mul(self, o: Self) -> Self {
                    unsafe { $mul(self, o) }
                }
                #[inline(always)]
                fn div(self, o: Self) -> Self {
                    unsafe { $div(self, o) }
                }
                #[inline(always)]
                fn sqrt(self) -> Self {
                    unsafe { $sqrt(self) }
                }
                #[inline(always)]
                fn fma(self, b: Self, c: Self) -> Self {
                    unsafe { $fmadd(self, b, c) }
                }
                #[inline(always)]
                fn neg(self) -> Self {
                    unsafe { $xor(self, $set1(-0.0)) }
                }
                #[inline(always)]
                fn gt_sel(self, b: Self, yes: Self, no: Self) -> Self {
                    let ($a, $b, $y, $no) = (self, b, yes, no);
                    const $c: i32 = _CMP_GT_OQ;
                    unsafe { $sel }
                }
                #[inline(always)]
                fn lt_sel(self, b: Self, yes: Self, no: Self) -> Self {
                    let ($a, $b, $y, $no) = (self, b, yes, no);
                    const $c: i32 = _CMP_LT_OQ;
                    unsafe { $sel }
                }
                #[inline(always)]
                fn nan_flag(self) -> Self {
                    let ($a, $b, $y, $no) = (self, self, Self::splat(1.0), Self::zero());
                    const $c: i32 = _CMP_UNORD_Q;
                    unsafe { $sel }
                }
                #[inline(always)]
                fn shl52(self) -> Self {
                    unsafe { $castd($sll::<52>($casti(self))) }
                }
                // `max(a, b)` is `a > b ? a : b`, and b if either is NaN (Intel SDM, MAXPD;
                // MINPD likewise with <): with the bound first, exactly the selects above.
                #[inline(always)]
                fn at_least(self, lo: Self) -> Self {
                    unsafe { $max(lo, self) }
                }
                #[inline(always)]
                fn at_most(self, hi: Self) -> Self {
                    unsafe { $min(hi, self) }
                }
            }
        };
    }

    x86_simd!(
        __m512d,
        8,
        set1 = _mm512_set1_pd,
        loadu = _mm512_loadu_pd,
        storeu = _mm512_storeu_pd,
        add = _mm512_add_pd,
        sub = _mm512_sub_pd,
        mul = _mm512_mul_pd,
        div = _mm512_div_pd,
        sqrt = _mm512_sqrt_pd,
        fmadd = _mm512_fmadd_pd,
        xor = _mm512_xor_pd,
        max = _mm512_max_pd,
        min = _mm512_min_pd,
        sel_gt = |a, b, y, no, C| _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<C>(a, b), no, y),
        sll = _mm512_slli_epi64,
        casti = _mm512_castpd_si512,
        castd = _mm512_castsi512_pd
    );

    x86_simd!(
        __m256d,
        4,
        set1 = _mm256_set1_pd,
        loadu = _mm256_loadu_pd,
        storeu = _mm256_storeu_pd,
        add = _mm256_add_pd,
        sub = _mm256_sub_pd,
        mul = _mm256_mul_pd,
        div = _mm256_div_pd,
        sqrt = _mm256_sqrt_pd,
        fmadd = _mm256_fmadd_pd,
        xor = _mm256_xor_pd,
        max = _mm256_max_pd,
        min = _mm256_min_pd,
        sel_gt = |a, b, y, no, C| _mm256_blendv_pd(no, y, _mm256_cmp_pd::<C>(a, b)),
        sll = _mm256_slli_epi64,
        casti = _mm256_castpd_si256,
        castd = _mm256_castsi256_pd
    );
}

use super::lanes::{EXP_HI, ratio};

/// `lanes::exp_ratio` on a register: the same operations in the same order (each clamp one
/// min / max instruction on x86).
#[inline(always)]
fn exp_ratio<V: Simd<N>, const N: usize>(x: V) -> (V, V) {
    use ratio::*;
    let s = V::splat;
    let xc = x.at_most(s(EXP_HI)).at_least(s(LO));
    let t = xc.mul(s(LOG2E)).add(s(KEY));
    let nk = s(KEY).sub(t);
    let r = nk.fma(s(LN2_LO), nk.fma(s(LN2_HI), xc));
    let r2 = r.mul(r);
    let p = r2.fma(s(P[4]), s(P[3]));
    let p = r2.fma(p, s(P[2]));
    let p = r2.fma(p, s(P[1]));
    let p = r2.fma(p, s(P[0]));
    let c = r2.neg().fma(p, r);
    let den = s(2.0).sub(c);
    let num = s(2.0).fma(r, den);
    let scale = t.shl52();
    (num.mul(scale), den.mul(s(0.5)))
}

/// [`Lanes::sigmoid`] on a register (same bits).
#[inline(always)]
pub(crate) fn sigmoid<V: Simd<N>, const N: usize>(z: V) -> V {
    let nz = z.neg();
    let (num, den) = exp_ratio(nz);
    let sg = den.div(den.add(num));
    nz.gt_sel(V::splat(EXP_HI), V::zero(), sg)
}

/// [`Lanes::tanh`] on a register (same bits).
#[inline(always)]
pub(crate) fn tanh<V: Simd<N>, const N: usize>(z: V) -> V {
    let two = V::splat(2.0);
    let x2 = two.mul(z);
    let (num, den) = exp_ratio(x2);
    let t = V::splat(1.0).sub(two.mul(den).div(den.add(num)));
    x2.gt_sel(V::splat(EXP_HI), V::splat(1.0), t)
}

/// Two registers side by side as one group of `2·n` lanes: two independent dependency chains,
/// so the long latency of a sample's chain (sigmoid's division, the SGD steps in sequence) of
/// one half overlaps with the other's.
#[derive(Clone, Copy)]
pub(crate) struct X2<V>(V, V);

macro_rules! x2_simd {
    ($v:ty, $n:literal, $n2:literal) => {
        impl Simd<$n2> for X2<$v> {
            #[inline(always)]
            fn splat(x: f64) -> Self {
                X2(<$v>::splat(x), <$v>::splat(x))
            }
            #[inline(always)]
            fn load(l: &Lanes<$n2>) -> Self {
                let (a, b) = l.0.split_at($n);
                let a: &[f64; $n] = a.try_into().expect("half");
                let b: &[f64; $n] = b.try_into().expect("half");
                X2(<$v>::load(&Lanes(*a)), <$v>::load(&Lanes(*b)))
            }
            #[inline(always)]
            fn lanes(self) -> Lanes<$n2> {
                let mut l = Lanes([0.0; $n2]);
                l.0[..$n].copy_from_slice(&self.0.lanes().0);
                l.0[$n..].copy_from_slice(&self.1.lanes().0);
                l
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                X2(self.0.add(o.0), self.1.add(o.1))
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                X2(self.0.sub(o.0), self.1.sub(o.1))
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                X2(self.0.mul(o.0), self.1.mul(o.1))
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                X2(self.0.div(o.0), self.1.div(o.1))
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                X2(self.0.sqrt(), self.1.sqrt())
            }
            #[inline(always)]
            fn fma(self, b: Self, c: Self) -> Self {
                X2(self.0.fma(b.0, c.0), self.1.fma(b.1, c.1))
            }
            #[inline(always)]
            fn neg(self) -> Self {
                X2(self.0.neg(), self.1.neg())
            }
            #[inline(always)]
            fn gt_sel(self, b: Self, yes: Self, no: Self) -> Self {
                X2(self.0.gt_sel(b.0, yes.0, no.0), self.1.gt_sel(b.1, yes.1, no.1))
            }
            #[inline(always)]
            fn lt_sel(self, b: Self, yes: Self, no: Self) -> Self {
                X2(self.0.lt_sel(b.0, yes.0, no.0), self.1.lt_sel(b.1, yes.1, no.1))
            }
            #[inline(always)]
            fn nan_flag(self) -> Self {
                X2(self.0.nan_flag(), self.1.nan_flag())
            }
            #[inline(always)]
            fn shl52(self) -> Self {
                X2(self.0.shl52(), self.1.shl52())
            }
            #[inline(always)]
            fn at_least(self, lo: Self) -> Self {
                X2(self.0.at_least(lo.0), self.1.at_least(lo.1))
            }
            #[inline(always)]
            fn at_most(self, hi: Self) -> Self {
                X2(self.0.at_most(hi.0), self.1.at_most(hi.1))
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
x2_simd!(std::arch::x86_64::__m512d, 8, 16);
#[cfg(target_arch = "x86_64")]
x2_simd!(std::arch::x86_64::__m256d, 4, 8);

// The portable clamps are the selects by definition; the x86 ones are checked against them.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::lanes::{EXP_HI, Lanes, ratio::LO};
    use super::Simd;

    /// Special values around the clamps: NaN of both signs, infinities, signed zeros, the
    /// bounds and their neighbours, the smallest subnormal.
    fn specials() -> Vec<f64> {
        let mut v = vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            5e-324,
            1.5,
            -1e300,
            1e300,
        ];
        for b in [LO, EXP_HI] {
            v.extend([b, b.next_down(), b.next_up(), -b]);
        }
        v
    }

    /// `at_least` / `at_most` of a register type, against the selects of [`Lanes`], bit for bit.
    fn check<V: Simd<N>, const N: usize>() {
        let xs = specials();
        for &bound in &xs {
            for chunk in xs.chunks(N) {
                let mut l = Lanes([0.0; N]);
                l.0[..chunk.len()].copy_from_slice(chunk);
                let b = Lanes::splat(bound);
                let want_lo = l.lt_sel(b, b, l);
                let want_hi = l.gt_sel(b, b, l);
                let got_lo = V::load(&l).at_least(V::splat(bound)).lanes();
                let got_hi = V::load(&l).at_most(V::splat(bound)).lanes();
                for k in 0..N {
                    assert_eq!(got_lo.0[k].to_bits(), want_lo.0[k].to_bits(), "at_least({}, {bound})", l.0[k]);
                    assert_eq!(got_hi.0[k].to_bits(), want_hi.0[k].to_bits(), "at_most({}, {bound})", l.0[k]);
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn check_avx2() {
        check::<std::arch::x86_64::__m256d, 4>();
        check::<super::X2<std::arch::x86_64::__m256d>, 8>();
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    fn check_avx512() {
        check::<std::arch::x86_64::__m512d, 8>();
        check::<super::X2<std::arch::x86_64::__m512d>, 16>();
    }

    /// The min / max instructions behind the clamps are the selects exactly, NaN included.
    #[test]
    fn clamps_are_the_selects_bit_for_bit() {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features.
            unsafe { check_avx2() };
        }
        if super::super::dispatch::simd_level() == "avx512" {
            // SAFETY: as above.
            unsafe { check_avx512() };
        }
    }
}
