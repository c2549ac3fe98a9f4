//! Fused kernels for the networks the article is about: one hidden layer of `H` units on a
//! 1-D input, `O` outputs, MSE loss, plain SGD (no momentum, no batch norm), online updates
//! or one full batch per epoch in fixed order.
//!
//! The generic kernels (`super::net`) walk a layer list through per-layer buffers; here a lane
//! group's whole network — 3H + O(H + 1) parameters, one register of `N` lanes each
//! ([`Simd`]) — is loaded once per epoch and stays in registers through all the samples, and
//! the screen computes only what decides a run (the loss, non-finite parameters, and the
//! correct / dead / doomed counts only where they can end a run now). The operations, their
//! order and their operands are exactly those of the generic path (`net::forward`,
//! `net::backward` with `m = 1` or `m = n` and an `Sgd` sink, `Group::evaluate`,
//! `Eval::decisions`), so every result has the same bits; `tests::fused_kernels_give_the_generic_bits`
//! checks that over every activation pair, both sample orders, full batches and the
//! early-stopping rules.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;

use super::lanes::Lanes;
use super::simd::{self, Simd};
use super::spec::{Activation, LEAKY_SLOPE, Loss, SampleOrder};
use super::train::{Criteria, Group, Kernel, LaneState, Screen, Trainer};

/// Most samples a fused screen keeps the outputs of (for the accuracy, only computed when some
/// lane's loss is low); larger data sets use the generic kernels.
pub(crate) const MAX_SAMPLES: usize = 16;

/// Activation codes for the kernels' const parameters: a fixed activation is folded into the
/// code (no branch per element, the network stays in registers); [`ANY`] reads it at run time.
pub(crate) const RELU: u8 = 0;
pub(crate) const SIGMOID: u8 = 1;
pub(crate) const ANY: u8 = u8::MAX;

const fn code(a: Activation) -> u8 {
    match a {
        Activation::Relu => RELU,
        Activation::Sigmoid => SIGMOID,
        _ => ANY - 1,
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

/// Whether the fused kernel for `H` hidden units, `O` outputs and activation codes `ha`, `oa`
/// trains `t` (else: another kernel, or the generic ones).
pub(crate) fn applies(t: &Trainer, h: usize, o: usize, ha: u8, oa: u8) -> bool {
    let s = t.spec();
    let shape = t.shape();
    shape.input_dim == 1
        && shape.layers.len() == 2
        && shape.layers[0].units == h
        && shape.layers[1].units == o
        && (ha == ANY || code(shape.layers[0].activation) == ha)
        && (oa == ANY || code(shape.layers[1].activation) == oa)
        && shape
            .layers
            .iter()
            .all(|l| l.gamma_off.is_none() && l.activation != Activation::Softmax)
        && s.loss == Loss::Mse
        && s.momentum == 0.0
        && !s.batch_norm
        && (t.batch_size() == 1 || (t.batch_size() >= s.dataset.len() && s.sample_order == SampleOrder::Fixed))
        && s.dataset.len() <= MAX_SAMPLES
}

/// The network of one lane group, in registers.
#[derive(Clone, Copy)]
struct Net<V, const H: usize, const O: usize> {
    w1: [V; H],
    b1: [V; H],
    w2: [[V; H]; O],
    b2: [V; O],
}

/// One sample's forward pass.
#[derive(Clone, Copy)]
struct Pass<V, const H: usize, const O: usize> {
    z1: [V; H],
    a1: [V; H],
    z2: [V; O],
    a2: [V; O],
}

impl<V, const H: usize, const O: usize> Pass<V, H, O> {
    #[inline(always)]
    fn zero<const N: usize>() -> Self
    where
        V: Simd<N>,
    {
        Pass {
            z1: [V::zero(); H],
            a1: [V::zero(); H],
            z2: [V::zero(); O],
            a2: [V::zero(); O],
        }
    }
}

// Plain loops throughout, no closures: a closure is a function of its own, compiled without
// the caller's target features (AVX-512/FMA) unless LLVM inlines it.
impl<const H: usize, const O: usize> Net<(), H, O> {
    /// Parameters in the flat layout of `net::NetShape`: W1 (H × 1), b1, W2 (O × H, row k), b2.
    const PARAMS: usize = 2 * H + O * H + O;
}

impl<V, const H: usize, const O: usize> Net<V, H, O> {
    #[inline(always)]
    fn load<const N: usize>(p: &[Lanes<N>]) -> Self
    where
        V: Simd<N>,
    {
        let p = &p[..Net::<(), H, O>::PARAMS];
        let mut net = Net {
            w1: [V::zero(); H],
            b1: [V::zero(); H],
            w2: [[V::zero(); H]; O],
            b2: [V::zero(); O],
        };
        for j in 0..H {
            net.w1[j] = V::load(&p[j]);
            net.b1[j] = V::load(&p[H + j]);
        }
        for k in 0..O {
            for j in 0..H {
                net.w2[k][j] = V::load(&p[2 * H + k * H + j]);
            }
            net.b2[k] = V::load(&p[2 * H + O * H + k]);
        }
        net
    }

    #[inline(always)]
    fn store<const N: usize>(&self, p: &mut [Lanes<N>])
    where
        V: Simd<N>,
    {
        let p = &mut p[..Net::<(), H, O>::PARAMS];
        for j in 0..H {
            p[j] = self.w1[j].lanes();
            p[H + j] = self.b1[j].lanes();
        }
        for k in 0..O {
            for j in 0..H {
                p[2 * H + k * H + j] = self.w2[k][j].lanes();
            }
            p[2 * H + O * H + k] = self.b2[k].lanes();
        }
    }

    /// `net::forward` for one sample: z = b + w·x (fused), a = act(z); output z = b + Σ_j w·a
    /// (j ascending, fused), then its activation.
    #[inline(always)]
    fn forward<const N: usize>(&self, x: V, hid: Activation, out: Activation) -> Pass<V, H, O>
    where
        V: Simd<N>,
    {
        let mut f = Pass::zero();
        for j in 0..H {
            f.z1[j] = self.w1[j].fma(x, self.b1[j]);
            f.a1[j] = activate(hid, f.z1[j]);
        }
        for k in 0..O {
            let mut acc = self.b2[k];
            for j in 0..H {
                acc = self.w2[k][j].fma(f.a1[j], acc);
            }
            f.z2[k] = acc;
            f.a2[k] = activate(out, acc);
        }
        f
    }

    /// `net::backward` with `m = 1` and the plain SGD sink (θ ← −lr·g + θ, fused): every
    /// gradient from the parameters before this step's update.
    #[inline(always)]
    fn sgd_step<const N: usize>(&mut self, f: &Pass<V, H, O>, x: V, t: &[Lanes<N>], neg_lr: V, hid: Activation, out: Activation)
    where
        V: Simd<N>,
    {
        // Output delta: (a − t)·act'(z, a).
        let mut d2 = [V::zero(); O];
        for k in 0..O {
            d2[k] = f.a2[k].sub(V::load(&t[k])).mul(act_grad(out, f.z2[k], f.a2[k]));
        }
        // ∂L/∂a1 = Σ_k W2[k, j]·δ2[k] (k ascending), with W2 before its update.
        let mut d1 = [V::zero(); H];
        for j in 0..H {
            d1[j] = self.w2[0][j].mul(d2[0]);
        }
        for k in 1..O {
            for j in 0..H {
                d1[j] = self.w2[k][j].fma(d2[k], d1[j]);
            }
        }
        for k in 0..O {
            self.b2[k] = neg_lr.fma(d2[k], self.b2[k]);
            for j in 0..H {
                self.w2[k][j] = neg_lr.fma(d2[k].mul(f.a1[j]), self.w2[k][j]);
            }
        }
        for j in 0..H {
            let d = hidden_delta(hid, d1[j], f.z1[j], f.a1[j]);
            self.b1[j] = neg_lr.fma(d, self.b1[j]);
            self.w1[j] = neg_lr.fma(d.mul(x), self.w1[j]);
        }
    }

    /// 1.0 where some parameter is ±∞ or NaN (θ·0 + acc is NaN exactly then), else 0.0 — the
    /// `bad` flag of `Group::evaluate` (|θ| ≤ f64::MAX fails for exactly these values).
    #[inline(always)]
    fn non_finite<const N: usize>(&self) -> V
    where
        V: Simd<N>,
    {
        let zero = V::zero();
        let (mut a, mut b) = (zero, zero);
        for j in 0..H {
            a = self.w1[j].fma(zero, a);
            b = self.b1[j].fma(zero, b);
        }
        for k in 0..O {
            for j in 0..H {
                a = self.w2[k][j].fma(zero, a);
            }
            b = self.b2[k].fma(zero, b);
        }
        a.add(b).nan_flag()
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

/// The fused kernel for one hidden layer of `H` units and `O` outputs on registers `V` of `N`
/// lanes, with hidden and output activations `HA`, `OA` (codes; [`ANY`]: read at run time).
pub(crate) struct Fused<V, const N: usize, const H: usize, const O: usize, const HA: u8, const OA: u8> {
    hid: Activation,
    out: Activation,
    /// The sample order is fixed: the screen's pass of sample 0 is the epoch's first.
    reuse: bool,
    /// One full batch (in fixed order) per epoch instead of online steps.
    full: bool,
    /// The last screen's forward passes: sample 0's (online), every sample's (full batch), and
    /// every sample's outputs (for the accuracy).
    passes: [Pass<V, H, O>; MAX_SAMPLES],
    _lanes: PhantomData<[f64; N]>,
}

impl<V: Simd<N>, const N: usize, const H: usize, const O: usize, const HA: u8, const OA: u8> Kernel<N> for Fused<V, N, H, O, HA, OA> {
    fn new(t: &Trainer) -> Self {
        let l = &t.shape().layers;
        Fused {
            hid: l[0].activation,
            out: l[1].activation,
            reuse: t.spec().sample_order == SampleOrder::Fixed,
            full: t.batch_size() > 1,
            passes: [Pass::zero(); MAX_SAMPLES],
            _lanes: PhantomData,
        }
    }

    #[inline(always)]
    fn screen(&mut self, g: &mut Group<N>, _t: &Trainer, doom_at: f64, rule: &Criteria) -> Screen<N> {
        let (hid, out) = self.acts();
        let net = Net::<V, H, O>::load(&g.params);
        let n = g.xd.len();
        // Dead ReLU units are counted only where they can end a run now.
        let dead1 = hid == Activation::Relu && (rule.stop_when_dead || doom_at > 0.0);
        let dead2 = out == Activation::Relu && rule.stop_when_dead;
        let mut mx1 = [V::zero(); H];
        let mut mx2 = [V::zero(); O];
        let mut loss = V::zero();
        let half = V::splat(0.5);
        for s in 0..n {
            let f = net.forward(V::load(&g.xd[s]), hid, out);
            // `net::sample_loss` (MSE): ½·Σ_k (a − t)², fused, then summed over the samples.
            let mut acc = V::zero();
            for k in 0..O {
                let d = f.a2[k].sub(V::load(&g.td[s * O + k]));
                acc = d.fma(d, acc);
            }
            loss = loss.add(acc.mul(half));
            if s == 0 || self.full {
                self.passes[s] = f;
            } else {
                self.passes[s].a2 = f.a2;
            }
            if s == 0 {
                mx1 = f.z1;
                mx2 = f.z2;
            } else {
                if dead1 {
                    for j in 0..H {
                        mx1[j] = f.z1[j].max_of(mx1[j]);
                    }
                }
                if dead2 {
                    for k in 0..O {
                        mx2[k] = f.z2[k].max_of(mx2[k]);
                    }
                }
            }
        }
        let loss = loss.div(V::splat(n as f64)).lanes();
        let bad = net.non_finite().lanes();
        // `Eval::decisions`: diverged, or converged, or dead (if death stops runs), or doomed.
        let (one, zero) = (Lanes::splat(1.0), Lanes::zero());
        let diverged = loss.map(|l| {
            if l <= rule.diverge_loss && l < f64::INFINITY && l > f64::NEG_INFINITY {
                0.0
            } else {
                1.0
            }
        });
        let mut decide = diverged.max_of(bad);
        let low = loss.map(|l| if l <= rule.tol { 1.0 } else { 0.0 });
        if low.0.iter().any(|&v| v != 0.0) {
            decide = decide.max_of(low * self.all_correct(g, n));
        }
        if dead1 || dead2 {
            let mut dead_layer = zero;
            if dead1 {
                let alive1 = alive(&mx1).lanes();
                if doom_at > 0.0 {
                    decide = decide.max_of(alive1.map(|a| if a < doom_at { 1.0 } else { 0.0 }));
                }
                dead_layer = alive1.select_pos(zero, one);
            }
            if dead2 {
                dead_layer = dead_layer.max_of(alive(&mx2).lanes().select_pos(zero, one));
            }
            if rule.stop_when_dead {
                decide = decide.max_of(dead_layer);
            }
        }
        Screen { loss, decide, full: None }
    }

    #[inline(always)]
    fn train_epoch(&mut self, g: &mut Group<N>, t: &Trainer, lanes: &mut [LaneState; N]) {
        g.shuffle_epoch(t, lanes);
        let (hid, out) = self.acts();
        let neg_lr = V::splat(t.spec().lr).neg();
        let mut net = Net::<V, H, O>::load(&g.params);
        if self.full {
            self.full_batch_step(g, &mut net, neg_lr, hid, out);
        } else {
            for s in 0..g.xe.len() {
                let x = V::load(&g.xe[s]);
                let f = if s == 0 && self.reuse {
                    self.passes[0]
                } else {
                    net.forward(x, hid, out)
                };
                net.sgd_step(&f, x, &g.te[s * O..(s + 1) * O], neg_lr, hid, out);
            }
        }
        net.store(&mut g.params);
    }
}

impl<V: Simd<N>, const N: usize, const H: usize, const O: usize, const HA: u8, const OA: u8> Fused<V, N, H, O, HA, OA> {
    /// The hidden and output activations, constants where the codes fix them.
    #[inline(always)]
    fn acts(&self) -> (Activation, Activation) {
        (act_of(HA, self.hid), act_of(OA, self.out))
    }

    /// One step of full-batch SGD in fixed order, on the screen's forward passes (the same
    /// parameters and inputs): `net::backward` with `m = n` — output deltas (a − t)·(1/m)·act',
    /// backpropagated with W2 before its update, gradients summed over the samples in order
    /// (the first term, then `+=` / fused), each parameter updated once.
    #[inline(always)]
    fn full_batch_step(&self, g: &Group<N>, net: &mut Net<V, H, O>, neg_lr: V, hid: Activation, out: Activation) {
        let n = g.xe.len();
        let inv_m = V::splat(1.0 / n as f64);
        let mut d2 = [[V::zero(); O]; MAX_SAMPLES];
        let mut d1 = [[V::zero(); H]; MAX_SAMPLES];
        for s in 0..n {
            let f = &self.passes[s];
            for k in 0..O {
                let diff = f.a2[k].sub(V::load(&g.te[s * O + k])).mul(inv_m);
                d2[s][k] = diff.mul(act_grad(out, f.z2[k], f.a2[k]));
            }
            for j in 0..H {
                let mut acc = net.w2[0][j].mul(d2[s][0]);
                for k in 1..O {
                    acc = net.w2[k][j].fma(d2[s][k], acc);
                }
                d1[s][j] = hidden_delta(hid, acc, f.z1[j], f.a1[j]);
            }
        }
        for k in 0..O {
            let mut b = d2[0][k];
            for s in 1..n {
                b = b.add(d2[s][k]);
            }
            net.b2[k] = neg_lr.fma(b, net.b2[k]);
            for j in 0..H {
                let mut gw = d2[0][k].mul(self.passes[0].a1[j]);
                for s in 1..n {
                    gw = d2[s][k].fma(self.passes[s].a1[j], gw);
                }
                net.w2[k][j] = neg_lr.fma(gw, net.w2[k][j]);
            }
        }
        for j in 0..H {
            let mut b = d1[0][j];
            for s in 1..n {
                b = b.add(d1[s][j]);
            }
            net.b1[j] = neg_lr.fma(b, net.b1[j]);
            let mut gw = d1[0][j].mul(V::load(&g.xe[0]));
            for s in 1..n {
                gw = d1[s][j].fma(V::load(&g.xe[s]), gw);
            }
            net.w1[j] = neg_lr.fma(gw, net.w1[j]);
        }
    }

    /// 1.0 where every sample is classified correctly, from the last screen's outputs, as
    /// `Group::evaluate` counts it (argmax with the first maximum; one output: y ≥ 0.5).
    #[inline(always)]
    fn all_correct(&self, g: &Group<N>, n: usize) -> Lanes<N> {
        let mut correct = Lanes::zero();
        for s in 0..n {
            let a = &self.passes[s].a2;
            let pred = if O == 1 {
                a[0].lanes().zip(Lanes::splat(0.5), |y, h| if y >= h { 1.0 } else { 0.0 })
            } else {
                let mut best = a[0].lanes();
                let mut idx = Lanes::zero();
                for k in 1..O {
                    let v = a[k].lanes();
                    let kk = Lanes::splat(k as f64);
                    idx = (v - best).select_pos(kk, idx);
                    best = (v - best).select_pos(v, best);
                }
                idx
            };
            correct += pred.zip(Lanes::splat(g.labels[s]), |p, l| if p == l { 1.0 } else { 0.0 });
        }
        correct.map(|c| if c == n as f64 { 1.0 } else { 0.0 })
    }
}
