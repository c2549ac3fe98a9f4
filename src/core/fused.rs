//! Fused kernels for the networks the article is about: one or two hidden layers of `H` units
//! on a 1-D input, `O` outputs, MSE loss, plain SGD (no momentum); online updates, or one full
//! batch per epoch in fixed order — with or without batch norm on the hidden layers (which
//! the fused kernels take with full batches only: a full batch's statistics are the
//! evaluation's, so the screen's forward pass is the training step's).
//!
//! The generic kernels (`super::net`) walk a layer list through per-layer buffers; here a lane
//! group's whole network — one register of `N` lanes per parameter ([`Simd`]) — is loaded once
//! per epoch and stays in registers through all the samples, and the screen computes only what
//! decides a run (the loss, non-finite parameters, and the correct / dead / doomed counts only
//! where they can end a run now). The operations, their order and their operands are exactly
//! those of the generic path (`net::forward` with its batch norm, `net::backward` with `m = 1`
//! or `m = n` and an `Sgd` sink, `Group::evaluate`, `Eval::decisions`), so every result has the
//! same bits; `tests::fused_kernels_give_the_generic_bits` checks that over every activation
//! pair and triple, both sample orders, full batches, batch norm and the early-stopping rules.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use super::lanes::Lanes;
use super::net::BN_EPS;
use super::simd::{self, Simd};
use super::spec::{Activation, LEAKY_SLOPE, Loss, SampleOrder};
use super::train::{Criteria, Group, Kernel, LaneState, Screen, Trainer, classified_correctly, flag, fold_min, loss_in_range, low_loss};

/// Most samples a fused kernel keeps the forward passes of (full batches, batch norm, the
/// accuracy); larger data sets use the generic kernels.
pub(crate) const MAX_SAMPLES: usize = 16;

/// Activation codes for the kernels' const parameters: a fixed activation is folded into the
/// code (no branch per element, the network stays in registers); [`ANY`] reads it at run time;
/// [`NONE`] is the middle code of one hidden layer.
pub(crate) const RELU: u8 = 0;
pub(crate) const SIGMOID: u8 = 1;
/// Any other activation (no kernel fixes it).
const OTHER: u8 = 2;
pub(crate) const NONE: u8 = 3;
pub(crate) const ANY: u8 = u8::MAX;

const fn code(a: Activation) -> u8 {
    match a {
        Activation::Relu => RELU,
        Activation::Sigmoid => SIGMOID,
        _ => OTHER,
    }
}

/// The activation a kernel with code `c` applies: the constant one, or `dynamic` for [`ANY`].
#[inline(always)]
const fn act_of(c: u8, dynamic: Activation) -> Activation {
    match c {
        RELU => Activation::Relu,
        SIGMOID => Activation::Sigmoid,
        _ => dynamic,
    }
}

/// Whether the fused kernel for `h` units in the first hidden layer, `h2` in the second (0: one
/// hidden layer), `o` outputs and activation codes `ha` (first hidden layer), `ma` (second) and
/// `oa` (output) trains `t` (else: another kernel, or the generic ones).
pub(crate) fn applies(t: &Trainer, h: usize, h2: usize, o: usize, ha: u8, ma: u8, oa: u8) -> bool {
    let s = t.spec();
    let shape = t.shape();
    let l = &shape.layers;
    let n = s.dataset.len();
    let deep = h2 > 0;
    let fits = |i: usize, units: usize, c: u8| {
        l[i].units == units && l[i].activation != Activation::Softmax && (c == ANY || code(l[i].activation) == c)
    };
    // One full batch per epoch in fixed order: the screen's passes are the step's.
    let full = t.batch_size() >= n && s.sample_order == SampleOrder::Fixed;
    shape.input_dim == 1
        && l.len() == 2 + deep as usize
        && fits(0, h, ha)
        && (!deep || fits(1, h2, ma))
        && fits(l.len() - 1, o, oa)
        && s.loss == Loss::Mse
        && s.momentum == 0.0
        && ((t.batch_size() == 1 && !s.batch_norm) || full)
        && n <= MAX_SAMPLES
}

/// Where each parameter block sits in the flat vector (`net::NetShape`'s layout): per layer W
/// (`[unit][input]`), b, then γ and β with batch norm; the second hidden layer only if `h2 > 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Offsets {
    w1: usize,
    b1: usize,
    g1: usize,
    w2: usize,
    b2: usize,
    g2: usize,
    wo: usize,
    bo: usize,
    end: usize,
}

impl Offsets {
    const fn new(h: usize, h2: usize, o: usize, bn: bool) -> Offsets {
        let (w1, b1, g1) = (0, h, 2 * h);
        let w2 = 2 * h + if bn { 2 * h } else { 0 };
        let (b2, g2) = (w2 + h2 * h, w2 + h2 * h + h2);
        let wo = g2 + if bn { 2 * h2 } else { 0 };
        let bo = wo + o * h;
        Offsets {
            w1,
            b1,
            g1,
            w2,
            b2,
            g2,
            wo,
            bo,
            end: bo + o,
        }
    }
}

/// The weights and biases of one lane group, in registers (batch norm's γ and β stay in the
/// parameter vector: full batches only, where the per-sample work is in memory anyway). The
/// second hidden layer has `H2 ∈ {0, H}` units (0: one hidden layer; then `w2`, `b2` are empty).
#[derive(Clone, Copy)]
struct Net<V, const H: usize, const H2: usize, const O: usize> {
    w1: [V; H],
    b1: [V; H],
    w2: [[V; H]; H2],
    b2: [V; H2],
    wo: [[V; H]; O],
    bo: [V; O],
}

/// One sample's forward pass.
#[derive(Clone, Copy)]
struct Pass<V, const H: usize, const H2: usize, const O: usize> {
    z1: [V; H],
    a1: [V; H],
    z2: [V; H2],
    a2: [V; H2],
    zo: [V; O],
    ao: [V; O],
}

impl<V, const H: usize, const H2: usize, const O: usize> Pass<V, H, H2, O> {
    #[inline(always)]
    fn view(&self) -> PassRef<'_, V, H, H2, O> {
        PassRef {
            z1: &self.z1,
            a1: &self.a1,
            z2: &self.z2,
            a2: &self.a2,
            zo: &self.zo,
            ao: &self.ao,
        }
    }
}

/// One sample's forward pass where it is stored — a [`Pass`], or a sample's slot of [`Batch`] —
/// so that neither is copied into the other.
#[derive(Clone, Copy)]
struct PassRef<'a, V, const H: usize, const H2: usize, const O: usize> {
    z1: &'a [V; H],
    a1: &'a [V; H],
    z2: &'a [V; H2],
    a2: &'a [V; H2],
    zo: &'a [V; O],
    ao: &'a [V; O],
}

impl<V, const H: usize, const H2: usize, const O: usize> PassRef<'_, V, H, H2, O> {
    /// The activations feeding the output layer.
    #[inline(always)]
    fn top(&self) -> &[V] {
        if H2 > 0 { self.a2 } else { self.a1 }
    }
}

/// The forward passes of every sample (`[sample][unit]`) with, for batch norm, x̂ and
/// 1/√(σ²+ε) of each hidden layer — what `net::Buffers` holds for the generic kernels — and the
/// full-batch step's deltas (kept here: no array is cleared per epoch).
struct Batch<V, const H: usize, const H2: usize, const O: usize> {
    z1: [[V; H]; MAX_SAMPLES],
    a1: [[V; H]; MAX_SAMPLES],
    xh1: [[V; H]; MAX_SAMPLES],
    inv1: [V; H],
    z2: [[V; H2]; MAX_SAMPLES],
    a2: [[V; H2]; MAX_SAMPLES],
    xh2: [[V; H2]; MAX_SAMPLES],
    inv2: [V; H2],
    zo: [[V; O]; MAX_SAMPLES],
    ao: [[V; O]; MAX_SAMPLES],
    /// ∂L/∂z of the output layer, ∂L/∂a of the top hidden layer, ∂L/∂z of each hidden layer.
    d_out: [[V; O]; MAX_SAMPLES],
    d_top: [[V; H]; MAX_SAMPLES],
    d1: [[V; H]; MAX_SAMPLES],
    d2: [[V; H2]; MAX_SAMPLES],
}

/// The screen's running sums over the samples: the loss and, per layer, each unit's maximum
/// pre-activation (only where dead units can end a run: `dead` per layer).
struct ScreenAcc<V, const H: usize, const H2: usize, const O: usize> {
    loss: V,
    mx1: [V; H],
    mx2: [V; H2],
    mx_o: [V; O],
    dead: [bool; 3],
}

impl<V, const H: usize, const H2: usize, const O: usize> ScreenAcc<V, H, H2, O> {
    /// Adds sample `s`'s pass: `net::sample_loss` (MSE) ½·Σ_k (a − t)², fused, summed over the
    /// samples; the maxima start at sample 0's pre-activations.
    #[inline(always)]
    fn add<const N: usize>(&mut self, f: PassRef<'_, V, H, H2, O>, s: usize, td: &[Lanes<N>])
    where
        V: Simd<N>,
    {
        let mut acc = V::zero();
        for k in 0..O {
            let d = f.ao[k].sub(V::load(&td[s * O + k]));
            acc = d.fma(d, acc);
        }
        self.loss = self.loss.add(acc.mul(V::splat(0.5)));
        if s == 0 {
            self.mx1 = *f.z1;
            self.mx2 = *f.z2;
            self.mx_o = *f.zo;
            return;
        }
        if self.dead[0] {
            for j in 0..H {
                self.mx1[j] = f.z1[j].max_of(self.mx1[j]);
            }
        }
        if self.dead[1] {
            for j in 0..H2 {
                self.mx2[j] = f.z2[j].max_of(self.mx2[j]);
            }
        }
        if self.dead[2] {
            for k in 0..O {
                self.mx_o[k] = f.zo[k].max_of(self.mx_o[k]);
            }
        }
    }
}

/// The three activations of a kernel (the middle one unused with one hidden layer).
#[derive(Clone, Copy)]
struct Acts {
    hid: Activation,
    mid: Activation,
    out: Activation,
}

// Plain loops throughout, no closures: a closure is a function of its own, compiled without
// the caller's target features (AVX-512/FMA) unless LLVM inlines it. The structs in registers
// hold only what the shape has (no zero-length padding of unused layers): a larger one is no
// longer split into registers by LLVM, and is cleared and copied through memory instead.
impl<V, const H: usize, const H2: usize, const O: usize> Net<V, H, H2, O> {
    #[inline(always)]
    fn load<const N: usize>(p: &[Lanes<N>], at: &Offsets) -> Self
    where
        V: Simd<N>,
    {
        let p = &p[..at.end];
        // Filled in place, not cleared first: LLVM keeps a cleared struct of this size as a
        // `memset` call, which also spills every live vector register around it.
        let mut net = MaybeUninit::<Self>::uninit();
        let n = net.as_mut_ptr();
        // SAFETY: `n` points to a `Net` of `Copy` registers; each element is written once
        // through raw places (no reference to uninitialised memory), and the loops write every
        // element of every field (H, H2, O are the arrays' lengths).
        unsafe {
            for j in 0..H {
                (*n).w1[j] = V::load(&p[at.w1 + j]);
                (*n).b1[j] = V::load(&p[at.b1 + j]);
            }
            for j in 0..H2 {
                for i in 0..H {
                    (*n).w2[j][i] = V::load(&p[at.w2 + j * H + i]);
                }
                (*n).b2[j] = V::load(&p[at.b2 + j]);
            }
            for k in 0..O {
                for j in 0..H {
                    (*n).wo[k][j] = V::load(&p[at.wo + k * H + j]);
                }
                (*n).bo[k] = V::load(&p[at.bo + k]);
            }
            net.assume_init()
        }
    }

    #[inline(always)]
    fn store<const N: usize>(&self, p: &mut [Lanes<N>], at: &Offsets)
    where
        V: Simd<N>,
    {
        let p = &mut p[..at.end];
        for j in 0..H {
            p[at.w1 + j] = self.w1[j].lanes();
            p[at.b1 + j] = self.b1[j].lanes();
        }
        for j in 0..H2 {
            for i in 0..H {
                p[at.w2 + j * H + i] = self.w2[j][i].lanes();
            }
            p[at.b2 + j] = self.b2[j].lanes();
        }
        for k in 0..O {
            for j in 0..H {
                p[at.wo + k * H + j] = self.wo[k][j].lanes();
            }
            p[at.bo + k] = self.bo[k].lanes();
        }
    }

    /// `net::forward` for one sample without batch norm: z = b + w·x (fused), a = act(z); each
    /// layer above: z = b + Σ_i w·a (i ascending, fused), then its activation. Returned by
    /// value, each field a local array: after inlining LLVM keeps what is read in registers
    /// and drops what is not.
    #[inline(always)]
    fn forward_val<const N: usize>(&self, x: V, a: Acts) -> Pass<V, H, H2, O>
    where
        V: Simd<N>,
    {
        let zero = V::zero();
        let (mut z1, mut a1) = ([zero; H], [zero; H]);
        let (mut z2, mut a2) = ([zero; H2], [zero; H2]);
        let (mut zo, mut ao) = ([zero; O], [zero; O]);
        for j in 0..H {
            let z = self.w1[j].fma(x, self.b1[j]);
            z1[j] = z;
            a1[j] = activate(a.hid, z);
        }
        for j in 0..H2 {
            let mut acc = self.b2[j];
            for i in 0..H {
                acc = self.w2[j][i].fma(a1[i], acc);
            }
            z2[j] = acc;
            a2[j] = activate(a.mid, acc);
        }
        for k in 0..O {
            let mut acc = self.bo[k];
            for j in 0..H {
                let top = if H2 > 0 { a2[j] } else { a1[j] };
                acc = self.wo[k][j].fma(top, acc);
            }
            zo[k] = acc;
            ao[k] = activate(a.out, acc);
        }
        Pass { z1, a1, z2, a2, zo, ao }
    }

    /// `net::backward` with `m = 1` and the plain SGD sink (θ ← −lr·g + θ, fused): every
    /// gradient from the parameters before this step's update.
    #[inline(always)]
    fn sgd_step<const N: usize>(&mut self, f: PassRef<'_, V, H, H2, O>, x: V, t: &[Lanes<N>], neg_lr: V, a: Acts)
    where
        V: Simd<N>,
    {
        // Output delta: (a − t)·act'(z, a).
        let mut d_out = [V::zero(); O];
        for k in 0..O {
            d_out[k] = f.ao[k].sub(V::load(&t[k])).mul(act_grad(a.out, f.zo[k], f.ao[k]));
        }
        // ∂L/∂a of the top hidden layer = Σ_k Wo[k, j]·δ[k] (k ascending), Wo before its update.
        let mut d_top = [V::zero(); H];
        for j in 0..H {
            d_top[j] = self.wo[0][j].mul(d_out[0]);
        }
        for k in 1..O {
            for j in 0..H {
                d_top[j] = self.wo[k][j].fma(d_out[k], d_top[j]);
            }
        }
        let mut d1 = [V::zero(); H];
        let mut d2 = [V::zero(); H2];
        if H2 > 0 {
            for j in 0..H2 {
                d2[j] = hidden_delta(a.mid, d_top[j], f.z2[j], f.a2[j]);
            }
            // ∂L/∂a1[i] = Σ_j W2[j, i]·δ2[j] (j ascending), W2 before its update.
            for i in 0..H {
                let mut acc = self.w2[0][i].mul(d2[0]);
                for j in 1..H2 {
                    acc = self.w2[j][i].fma(d2[j], acc);
                }
                d1[i] = hidden_delta(a.hid, acc, f.z1[i], f.a1[i]);
            }
        } else {
            for j in 0..H {
                d1[j] = hidden_delta(a.hid, d_top[j], f.z1[j], f.a1[j]);
            }
        }
        for k in 0..O {
            self.bo[k] = neg_lr.fma(d_out[k], self.bo[k]);
            for j in 0..H {
                self.wo[k][j] = neg_lr.fma(d_out[k].mul(f.top()[j]), self.wo[k][j]);
            }
        }
        for j in 0..H2 {
            self.b2[j] = neg_lr.fma(d2[j], self.b2[j]);
            for i in 0..H {
                self.w2[j][i] = neg_lr.fma(d2[j].mul(f.a1[i]), self.w2[j][i]);
            }
        }
        for j in 0..H {
            self.b1[j] = neg_lr.fma(d1[j], self.b1[j]);
            self.w1[j] = neg_lr.fma(d1[j].mul(x), self.w1[j]);
        }
    }

    /// One epoch of online SGD over the samples `x` (targets `t`, `O` per sample) in order;
    /// sample 0's forward pass is `first` when given (the screen's, the same parameters).
    /// Every other pass is a local value, read from one place (no reference that may point to
    /// either of two keeps the values on the dependency chain in memory).
    #[inline(always)]
    fn online_epoch<const N: usize>(&mut self, x: &[Lanes<N>], t: &[Lanes<N>], first: Option<PassRef<'_, V, H, H2, O>>, neg_lr: V, a: Acts)
    where
        V: Simd<N>,
    {
        let from = match first {
            Some(f) => {
                self.sgd_step(f, V::load(&x[0]), &t[..O], neg_lr, a);
                1
            }
            None => 0,
        };
        for s in from..x.len() {
            let xs = V::load(&x[s]);
            let p = self.forward_val(xs, a);
            self.sgd_step(p.view(), xs, &t[s * O..(s + 1) * O], neg_lr, a);
        }
    }

    /// 1.0 where some parameter is ±∞ or NaN (θ·0 + acc is NaN exactly then), else 0.0 — the
    /// `bad` flag of `Group::evaluate` (|θ| ≤ f64::MAX fails for exactly these values); the
    /// batch-norm parameters `p[norm]` (γ and β of every hidden layer) read from memory.
    #[inline(always)]
    fn non_finite<const N: usize>(&self, p: &[Lanes<N>], norm: &[std::ops::Range<usize>; 2]) -> V
    where
        V: Simd<N>,
    {
        let zero = V::zero();
        let (mut a, mut b) = (zero, zero);
        for j in 0..H {
            a = self.w1[j].fma(zero, a);
            b = self.b1[j].fma(zero, b);
        }
        for j in 0..H2 {
            for i in 0..H {
                a = self.w2[j][i].fma(zero, a);
            }
            b = self.b2[j].fma(zero, b);
        }
        for k in 0..O {
            for j in 0..H {
                a = self.wo[k][j].fma(zero, a);
            }
            b = self.bo[k].fma(zero, b);
        }
        for r in norm {
            for q in &p[r.clone()] {
                a = V::load(q).fma(zero, a);
            }
        }
        a.add(b).nan_flag()
    }
}

impl<V: Copy, const H: usize, const H2: usize, const O: usize> Batch<V, H, H2, O> {
    #[inline(always)]
    fn view(&self, s: usize) -> PassRef<'_, V, H, H2, O> {
        PassRef {
            z1: &self.z1[s],
            a1: &self.a1[s],
            z2: &self.z2[s],
            a2: &self.a2[s],
            zo: &self.zo[s],
            ao: &self.ao[s],
        }
    }

    /// Sample `s`'s forward pass, copied out.
    #[inline(always)]
    fn pass(&self, s: usize) -> Pass<V, H, H2, O> {
        Pass {
            z1: self.z1[s],
            a1: self.a1[s],
            z2: self.z2[s],
            a2: self.a2[s],
            zo: self.zo[s],
            ao: self.ao[s],
        }
    }

    /// Stores a forward pass as sample `s`'s.
    #[inline(always)]
    fn put(&mut self, s: usize, p: &Pass<V, H, H2, O>) {
        self.z1[s] = p.z1;
        self.a1[s] = p.a1;
        self.z2[s] = p.z2;
        self.a2[s] = p.a2;
        self.zo[s] = p.zo;
        self.ao[s] = p.ao;
    }

    /// The activations of sample `s` feeding the output layer.
    #[inline(always)]
    fn top(&self, s: usize) -> &[V] {
        if H2 > 0 { &self.a2[s] } else { &self.a1[s] }
    }

    /// `net::forward` of the `n` samples `x` with batch norm on the hidden layers (the batch's
    /// statistics; γ, β from `p`): each layer's affine transform for every sample, then per unit
    /// the batch mean, the biased variance, x̂ = (z − μ)·(1/√(σ²+ε)), y = γ·x̂ + β, then the
    /// activation.
    #[inline(always)]
    fn forward_bn<const N: usize>(&mut self, net: &Net<V, H, H2, O>, p: &[Lanes<N>], at: &Offsets, x: &[Lanes<N>], a: Acts)
    where
        V: Simd<N>,
    {
        let n = x.len();
        for s in 0..n {
            let xs = V::load(&x[s]);
            for j in 0..H {
                self.z1[s][j] = net.w1[j].fma(xs, net.b1[j]);
            }
        }
        batch_norm(&mut self.z1, &mut self.xh1, &mut self.inv1, &p[at.g1..at.g1 + 2 * H], n);
        for s in 0..n {
            for j in 0..H {
                self.a1[s][j] = activate(a.hid, self.z1[s][j]);
            }
        }
        if H2 > 0 {
            for s in 0..n {
                for j in 0..H2 {
                    let mut acc = net.b2[j];
                    for i in 0..H {
                        acc = net.w2[j][i].fma(self.a1[s][i], acc);
                    }
                    self.z2[s][j] = acc;
                }
            }
            batch_norm(&mut self.z2, &mut self.xh2, &mut self.inv2, &p[at.g2..at.g2 + 2 * H2], n);
            for s in 0..n {
                for j in 0..H2 {
                    self.a2[s][j] = activate(a.mid, self.z2[s][j]);
                }
            }
        }
        for s in 0..n {
            for k in 0..O {
                let mut acc = net.bo[k];
                for j in 0..H {
                    acc = net.wo[k][j].fma(self.top(s)[j], acc);
                }
                self.zo[s][k] = acc;
                self.ao[s][k] = activate(a.out, acc);
            }
        }
    }

    /// One step of full-batch SGD in fixed order on these forward passes (the same parameters
    /// and inputs): `net::backward` with `m = n` — output deltas (a − t)·(1/m)·act',
    /// backpropagated with each layer's W before its update, through batch norm where there is
    /// one (γ, β updated in `p`), gradients summed over the samples in order (the first term,
    /// then `+=` / fused), each parameter updated once.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn full_batch_step<const N: usize>(
        &mut self,
        net: &mut Net<V, H, H2, O>,
        p: &mut [Lanes<N>],
        at: &Offsets,
        x: &[Lanes<N>],
        t: &[Lanes<N>],
        neg_lr: V,
        a: Acts,
        bn: bool,
    ) where
        V: Simd<N>,
    {
        let n = x.len();
        let inv_m = V::splat(1.0 / n as f64);
        for s in 0..n {
            for k in 0..O {
                let diff = self.ao[s][k].sub(V::load(&t[s * O + k])).mul(inv_m);
                self.d_out[s][k] = diff.mul(act_grad(a.out, self.zo[s][k], self.ao[s][k]));
            }
            // ∂L/∂a of the top hidden layer.
            for j in 0..H {
                let mut acc = net.wo[0][j].mul(self.d_out[s][0]);
                for k in 1..O {
                    acc = net.wo[k][j].fma(self.d_out[s][k], acc);
                }
                self.d_top[s][j] = acc;
            }
        }
        if H2 > 0 {
            for s in 0..n {
                for j in 0..H2 {
                    self.d2[s][j] = hidden_delta(a.mid, self.d_top[s][j], self.z2[s][j], self.a2[s][j]);
                }
            }
            if bn {
                batch_norm_back(&mut self.d2, &self.xh2, &self.inv2, &mut p[at.g2..at.g2 + 2 * H2], n, neg_lr);
            }
            for s in 0..n {
                for i in 0..H {
                    let mut acc = net.w2[0][i].mul(self.d2[s][0]);
                    for j in 1..H2 {
                        acc = net.w2[j][i].fma(self.d2[s][j], acc);
                    }
                    self.d1[s][i] = hidden_delta(a.hid, acc, self.z1[s][i], self.a1[s][i]);
                }
            }
        } else {
            for s in 0..n {
                for j in 0..H {
                    self.d1[s][j] = hidden_delta(a.hid, self.d_top[s][j], self.z1[s][j], self.a1[s][j]);
                }
            }
        }
        if bn {
            batch_norm_back(&mut self.d1, &self.xh1, &self.inv1, &mut p[at.g1..at.g1 + 2 * H], n, neg_lr);
        }
        for k in 0..O {
            let mut b = self.d_out[0][k];
            for s in 1..n {
                b = b.add(self.d_out[s][k]);
            }
            net.bo[k] = neg_lr.fma(b, net.bo[k]);
            for j in 0..H {
                let mut gw = self.d_out[0][k].mul(self.top(0)[j]);
                for s in 1..n {
                    gw = self.d_out[s][k].fma(self.top(s)[j], gw);
                }
                net.wo[k][j] = neg_lr.fma(gw, net.wo[k][j]);
            }
        }
        for j in 0..H2 {
            let mut b = self.d2[0][j];
            for s in 1..n {
                b = b.add(self.d2[s][j]);
            }
            net.b2[j] = neg_lr.fma(b, net.b2[j]);
            for i in 0..H {
                let mut gw = self.d2[0][j].mul(self.a1[0][i]);
                for s in 1..n {
                    gw = self.d2[s][j].fma(self.a1[s][i], gw);
                }
                net.w2[j][i] = neg_lr.fma(gw, net.w2[j][i]);
            }
        }
        for j in 0..H {
            let mut b = self.d1[0][j];
            for s in 1..n {
                b = b.add(self.d1[s][j]);
            }
            net.b1[j] = neg_lr.fma(b, net.b1[j]);
            let mut gw = self.d1[0][j].mul(V::load(&x[0]));
            for s in 1..n {
                gw = self.d1[s][j].fma(V::load(&x[s]), gw);
            }
            net.w1[j] = neg_lr.fma(gw, net.w1[j]);
        }
    }
}

/// Batch norm of one layer over `n` samples, as `net::forward` computes it: per unit the mean
/// (Σ from 0, in order, ÷ m), the biased variance (Σ (z − μ)², ÷ m), 1/√(σ²+ε), x̂ and
/// y = γ·x̂ + β (not fused), written back over `z`; `gb` is γ then β.
#[inline(always)]
fn batch_norm<V: Simd<N>, const N: usize, const U: usize>(
    z: &mut [[V; U]; MAX_SAMPLES],
    xh: &mut [[V; U]; MAX_SAMPLES],
    inv: &mut [V; U],
    gb: &[Lanes<N>],
    n: usize,
) {
    let mf = V::splat(n as f64);
    let (gamma, beta) = gb.split_at(U);
    for j in 0..U {
        let mut sum = V::zero();
        for s in 0..n {
            sum = sum.add(z[s][j]);
        }
        let mean = sum.div(mf);
        let mut ss = V::zero();
        for s in 0..n {
            let d = z[s][j].sub(mean);
            ss = ss.add(d.mul(d));
        }
        let var = ss.div(mf);
        let iv = V::splat(1.0).div(var.add(V::splat(BN_EPS)).sqrt());
        inv[j] = iv;
        let (g, b) = (V::load(&gamma[j]), V::load(&beta[j]));
        for s in 0..n {
            let x = z[s][j].sub(mean).mul(iv);
            xh[s][j] = x;
            z[s][j] = g.mul(x).add(b);
        }
    }
}

/// Batch norm's backward pass and SGD step of γ and β (`gb`: γ then β), as `net::backward`
/// computes them: with Σg and Σg·x̂ over the samples (from 0, in order, not fused),
/// ∂L/∂γ = Σg·x̂, ∂L/∂β = Σg and ∂L/∂z = (γ·(1/√(σ²+ε))/m)·(m·g − Σg − x̂·Σg·x̂), γ read
/// before its update.
#[inline(always)]
fn batch_norm_back<V: Simd<N>, const N: usize, const U: usize>(
    d: &mut [[V; U]; MAX_SAMPLES],
    xh: &[[V; U]; MAX_SAMPLES],
    inv: &[V; U],
    gb: &mut [Lanes<N>],
    n: usize,
    neg_lr: V,
) {
    let mf = V::splat(n as f64);
    let (gamma, beta) = gb.split_at_mut(U);
    for j in 0..U {
        let (mut sg, mut sgx) = (V::zero(), V::zero());
        for s in 0..n {
            sg = sg.add(d[s][j]);
            sgx = sgx.add(d[s][j].mul(xh[s][j]));
        }
        let g = V::load(&gamma[j]);
        let k = g.mul(inv[j]).div(mf);
        gamma[j] = neg_lr.fma(sgx, g).lanes();
        beta[j] = neg_lr.fma(sg, V::load(&beta[j])).lanes();
        for s in 0..n {
            d[s][j] = k.mul(mf.mul(d[s][j]).sub(sg).sub(xh[s][j].mul(sgx)));
        }
    }
}

/// The activation, as `net::activate` computes it element by element.
#[inline(always)]
fn activate<V: Simd<N>, const N: usize>(act: Activation, z: V) -> V {
    match act {
        Activation::Relu => z.select_pos(z, V::zero()),
        Activation::LeakyRelu => z.select_pos(z, z.mul(V::splat(LEAKY_SLOPE))),
        Activation::Sigmoid => simd::sigmoid(z),
        Activation::Tanh => simd::tanh(z),
        Activation::Linear => z,
        Activation::Softmax => unreachable!("fused kernels exclude softmax"),
    }
}

/// `net::act_grad`: the activation's derivative from z and a.
#[inline(always)]
fn act_grad<V: Simd<N>, const N: usize>(act: Activation, z: V, a: V) -> V {
    let one = V::splat(1.0);
    match act {
        Activation::Sigmoid => a.mul(one.sub(a)),
        Activation::Tanh => one.sub(a.mul(a)),
        Activation::Relu => z.select_pos(one, V::zero()),
        Activation::LeakyRelu => z.select_pos(one, V::splat(LEAKY_SLOPE)),
        Activation::Linear => one,
        Activation::Softmax => unreachable!("fused kernels exclude softmax"),
    }
}

/// Units whose pre-activation maximum over the samples is > 0, as `Group::evaluate` counts.
#[inline(always)]
fn alive<V: Simd<N>, const N: usize>(mx: &[V]) -> V {
    let (one, zero) = (V::splat(1.0), V::zero());
    let mut alive = zero;
    for m in mx {
        alive = alive.add(m.select_pos(one, zero));
    }
    alive
}

/// ∂L/∂z of a hidden unit from ∂L/∂a, as `net::backward` turns one into the other.
#[inline(always)]
fn hidden_delta<V: Simd<N>, const N: usize>(act: Activation, d: V, z: V, a: V) -> V {
    match act {
        Activation::Relu => z.select_pos(d, V::zero()),
        Activation::LeakyRelu => z.select_pos(d, d.mul(V::splat(LEAKY_SLOPE))),
        Activation::Linear => d,
        act => d.mul(act_grad(act, z, a)),
    }
}

/// 1.0 where the maximum over the samples of a layer's pre-activations is ≤ 0 for every unit.
#[inline(always)]
fn no_unit_alive<V: Simd<N>, const N: usize>(mx: &[V]) -> Lanes<N> {
    alive(mx).lanes().select_pos(Lanes::zero(), Lanes::splat(1.0))
}

/// The fused kernel for `H` hidden units (and a second hidden layer of `H2 ∈ {0, H}`; 0: none)
/// and `O` outputs on registers `V` of `N` lanes, with activation codes `HA` (first hidden
/// layer), `MA` (second) and `OA` (output); [`ANY`] reads an activation at run time.
pub(crate) struct Fused<V, const N: usize, const H: usize, const H2: usize, const O: usize, const HA: u8, const MA: u8, const OA: u8> {
    acts: Acts,
    at: Offsets,
    /// γ and β of each hidden layer, with batch norm (else empty).
    norm: [std::ops::Range<usize>; 2],
    /// Batch norm on the hidden layers (full batches only).
    bn: bool,
    /// The sample order is fixed: the screen's pass of sample 0 is the epoch's first.
    reuse: bool,
    /// One full batch (in fixed order) per epoch instead of online steps.
    full: bool,
    /// The last screen's forward passes: sample 0's (online), every sample's (full batch), and
    /// every sample's outputs (for the accuracy); the full-batch step's deltas.
    batch: Box<Batch<V, H, H2, O>>,
    _lanes: PhantomData<[f64; N]>,
}

impl<V: Simd<N>, const N: usize, const H: usize, const H2: usize, const O: usize, const HA: u8, const MA: u8, const OA: u8> Kernel<N>
    for Fused<V, N, H, H2, O, HA, MA, OA>
{
    fn new(t: &Trainer) -> Self {
        assert!(H2 == 0 || H2 == H, "fused kernel: the second hidden layer has H units");
        let l = &t.shape().layers;
        let bn = t.spec().batch_norm;
        let at = Offsets::new(H, H2, O, bn);
        // The layout this kernel assumes is the shape's (checked once per work unit).
        let top = &l[l.len() - 1];
        assert_eq!(
            (l[0].w_off, l[0].b_off, l[0].gamma_off, top.w_off, top.b_off, t.shape().n_params),
            (at.w1, at.b1, bn.then_some(at.g1), at.wo, at.bo, at.end),
            "fused kernel: parameter layout"
        );
        if H2 > 0 {
            assert_eq!(
                (l[1].w_off, l[1].b_off, l[1].gamma_off),
                (at.w2, at.b2, bn.then_some(at.g2)),
                "fused kernel: parameter layout"
            );
        }
        let norm = if bn {
            [at.g1..at.g1 + 2 * H, at.g2..at.g2 + 2 * H2]
        } else {
            [0..0, 0..0]
        };
        let z = V::zero();
        Fused {
            acts: Acts {
                hid: l[0].activation,
                mid: if H2 > 0 { l[1].activation } else { Activation::Linear },
                out: top.activation,
            },
            at,
            norm,
            bn,
            reuse: t.spec().sample_order == SampleOrder::Fixed,
            full: t.batch_size() > 1,
            batch: Box::new(Batch {
                z1: [[z; H]; MAX_SAMPLES],
                a1: [[z; H]; MAX_SAMPLES],
                xh1: [[z; H]; MAX_SAMPLES],
                inv1: [z; H],
                z2: [[z; H2]; MAX_SAMPLES],
                a2: [[z; H2]; MAX_SAMPLES],
                xh2: [[z; H2]; MAX_SAMPLES],
                inv2: [z; H2],
                zo: [[z; O]; MAX_SAMPLES],
                ao: [[z; O]; MAX_SAMPLES],
                d_out: [[z; O]; MAX_SAMPLES],
                d_top: [[z; H]; MAX_SAMPLES],
                d1: [[z; H]; MAX_SAMPLES],
                d2: [[z; H2]; MAX_SAMPLES],
            }),
            _lanes: PhantomData,
        }
    }

    #[inline(always)]
    fn screen(&mut self, g: &mut Group<N>, _t: &Trainer, doom_at: f64, rule: &Criteria) -> Screen<N> {
        let net = Net::<V, H, H2, O>::load(&g.params, &self.at);
        let (sc, first) = self.screen_net(&net, g, doom_at, rule);
        if !self.bn && !self.full {
            self.batch.put(0, &first);
        }
        sc
    }

    #[inline(always)]
    fn train_epoch(&mut self, g: &mut Group<N>, t: &Trainer, lanes: &mut [LaneState; N]) {
        g.shuffle_epoch(t, lanes);
        let a = self.acts();
        let neg_lr = V::splat(t.spec().lr).neg();
        let mut net = Net::<V, H, H2, O>::load(&g.params, &self.at);
        if self.full {
            self.batch
                .full_batch_step(&mut net, &mut g.params, &self.at, &g.xe, &g.te, neg_lr, a, self.bn);
        } else {
            let first = if self.reuse { Some(self.batch.view(0)) } else { None };
            net.online_epoch(&g.xe, &g.te, first, neg_lr, a);
        }
        net.store(&mut g.params, &self.at);
    }

    /// The scheduler's quiet epochs, run here with the parameters in registers throughout:
    /// screen; unless an `active` lane decides or `budget` epochs are trained, fold the loss
    /// into `mins` (as the scheduler does) and train one epoch — online, sample 0's forward pass
    /// the screen's, or one full batch over the screen's passes (batch norm's too). The same
    /// operations in the same order as the scheduler's loop of [`Kernel::screen`] and
    /// [`Kernel::train_epoch`], so the same bits; fixed sample order only (else `None`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn quiet_epochs(
        &mut self,
        g: &mut Group<N>,
        t: &Trainer,
        doom_at: f64,
        rule: &Criteria,
        budget: u32,
        mins: &mut Lanes<N>,
        active: &[bool; N],
    ) -> Option<(u32, Screen<N>)> {
        if !self.reuse {
            return None;
        }
        let a = self.acts();
        let neg_lr = V::splat(t.spec().lr).neg();
        let mut net = Net::<V, H, H2, O>::load(&g.params, &self.at);
        let mut trained = 0;
        loop {
            // A full batch's passes go to the batch (the step's; batch norm's γ and β are
            // read and updated in `g.params`, where the scheduler's path keeps them too).
            let (sc, first) = self.screen_net(&net, g, doom_at, rule);
            if trained == budget || sc.decides_any(active) {
                if !self.full {
                    self.batch.put(0, &first);
                }
                net.store(&mut g.params, &self.at);
                return Some((trained, sc));
            }
            *mins = fold_min(*mins, sc.loss);
            if self.full {
                self.batch
                    .full_batch_step(&mut net, &mut g.params, &self.at, &g.xe, &g.te, neg_lr, a, self.bn);
            } else {
                net.online_epoch(&g.xe, &g.te, Some(first.view()), neg_lr, a);
            }
            trained += 1;
        }
    }
}

impl<V: Simd<N>, const N: usize, const H: usize, const H2: usize, const O: usize, const HA: u8, const MA: u8, const OA: u8>
    Fused<V, N, H, H2, O, HA, MA, OA>
{
    /// [`Kernel::screen`] at the parameters `net`; also returns sample 0's forward pass (the
    /// next online epoch's first, in fixed order), which the caller keeps where it needs it.
    /// A full batch's passes (and batch norm's) are written to the batch, and every sample's
    /// outputs (for the accuracy).
    #[inline(always)]
    fn screen_net(&mut self, net: &Net<V, H, H2, O>, g: &Group<N>, doom_at: f64, rule: &Criteria) -> (Screen<N>, Pass<V, H, H2, O>) {
        let a = self.acts();
        let n = g.xd.len();
        // Dead ReLU units are counted only where they can end a run now.
        let dead1 = a.hid == Activation::Relu && (rule.stop_when_dead || doom_at > 0.0);
        let dead2 = H2 > 0 && a.mid == Activation::Relu && rule.stop_when_dead;
        let dead_o = a.out == Activation::Relu && rule.stop_when_dead;
        if self.bn {
            self.batch.forward_bn(net, &g.params, &self.at, &g.xd, a);
        }
        let mut acc = ScreenAcc {
            loss: V::zero(),
            mx1: [V::zero(); H],
            mx2: [V::zero(); H2],
            mx_o: [V::zero(); O],
            dead: [dead1, dead2, dead_o],
        };
        // Two loops, not one choosing where a pass is: a reference that may point to either
        // of two places keeps every value read through it in memory (store, then reload on
        // the dependency chain); here each loop reads from one place.
        let first;
        if self.bn {
            // The passes are in the batch already (the step's).
            for s in 0..n {
                acc.add(self.batch.view(s), s, &g.td);
            }
            first = self.batch.pass(0);
        } else {
            // Sample 0's pass goes back to the caller (also kept here for a full batch); a
            // full batch's passes are the step's; otherwise only the outputs are kept (for
            // the accuracy).
            first = net.forward_val(V::load(&g.xd[0]), a);
            self.keep(0, &first);
            acc.add(first.view(), 0, &g.td);
            for s in 1..n {
                let p = net.forward_val(V::load(&g.xd[s]), a);
                self.keep(s, &p);
                acc.add(p.view(), s, &g.td);
            }
        }
        let ScreenAcc { loss, mx1, mx2, mx_o, .. } = acc;
        let loss = loss.div(V::splat(n as f64)).lanes();
        let bad = net.non_finite(&g.params, &self.norm).lanes();
        // `Eval::decisions`: diverged, or converged, or dead (if death stops runs), or doomed.
        let zero = Lanes::zero();
        let diverged = loss.map(|l| flag(!loss_in_range(l, rule.diverge_loss)));
        let mut decide = diverged.max_of(bad);
        let low = loss.map(|l| flag(low_loss(l, rule.tol)));
        if low.0.iter().any(|&v| v != 0.0) {
            decide = decide.max_of(low * self.all_correct(g, n));
        }
        if dead1 || dead2 || dead_o {
            let mut dead_layer = zero;
            if dead1 {
                let alive1 = alive(&mx1).lanes();
                if doom_at > 0.0 {
                    decide = decide.max_of(alive1.map(|a| flag(a < doom_at)));
                }
                dead_layer = no_unit_alive(&mx1);
            }
            if dead2 {
                dead_layer = dead_layer.max_of(no_unit_alive(&mx2));
            }
            if dead_o {
                dead_layer = dead_layer.max_of(no_unit_alive(&mx_o));
            }
            if rule.stop_when_dead {
                decide = decide.max_of(dead_layer);
            }
        }
        (Screen { loss, decide, full: None }, first)
    }
}

impl<V: Simd<N>, const N: usize, const H: usize, const H2: usize, const O: usize, const HA: u8, const MA: u8, const OA: u8>
    Fused<V, N, H, H2, O, HA, MA, OA>
{
    /// What the batch keeps of sample `s`'s pass at a screen: all of it for a full batch (the
    /// step's), else its outputs (the accuracy's).
    #[inline(always)]
    fn keep(&mut self, s: usize, p: &Pass<V, H, H2, O>) {
        if self.full {
            self.batch.put(s, p);
        } else {
            self.batch.ao[s] = p.ao;
        }
    }

    /// The activations, constants where the codes fix them.
    #[inline(always)]
    fn acts(&self) -> Acts {
        Acts {
            hid: act_of(HA, self.acts.hid),
            mid: act_of(MA, self.acts.mid),
            out: act_of(OA, self.acts.out),
        }
    }

    /// 1.0 where every sample is classified correctly, from the last screen's outputs, as
    /// `Group::evaluate` counts it (argmax with the first maximum; one output: y ≥ 0.5).
    #[inline(always)]
    fn all_correct(&self, g: &Group<N>, n: usize) -> Lanes<N> {
        let mut correct = Lanes::zero();
        for s in 0..n {
            let mut a = [Lanes::zero(); O];
            for k in 0..O {
                a[k] = self.batch.ao[s][k].lanes();
            }
            correct += classified_correctly(&a, g.labels[s]);
        }
        correct.map(|c| flag(c == n as f64))
    }
}
