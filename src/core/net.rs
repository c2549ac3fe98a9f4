//! Network shape, the flat parameter layout, and the forward / backward kernels.
//!
//! The kernels are generic over `N` lanes ([`Lanes`]): lane `k` of every buffer belongs to one
//! replicate, and every operation is element-wise across lanes, so a replicate's numbers never
//! depend on its neighbours. `N = 1` is the plain scalar network used by `replay` and the
//! gradient checks; the grid runner uses wider groups. Buffers live in [`Buffers`], sized once
//! per group: the kernels never allocate.
//!
//! Parameter layout, per layer in order: weights `W[j·fan_in + i]` (from input i to unit j),
//! bias `b[j]`, then — for hidden layers with batch norm — γ[j] and β[j].
//!
//! Batch norm (Ioffe & Szegedy 2015, Alg. 1; PyTorch `BatchNorm1d` in training mode) sits
//! after the affine transform of every hidden layer, before its activation: batch mean, biased
//! variance, ε = 1e−5, y = γ·x̂ + β. Backward (Ioffe & Szegedy §3, compact form):
//! ∂ℓ/∂x_i = γ/(m·s)·(m·g_i − Σg − x̂_i·Σ g x̂), s = √(σ²+ε).
// Numeric kernels index explicitly: the index order is the summation order, which the
// bit-for-bit guarantees depend on.
#![allow(clippy::needless_range_loop)]

use super::lanes::{Lanes, flat, flat_mut};
use super::spec::{Activation, LEAKY_SLOPE, Loss};

/// Batch-norm ε (PyTorch default).
pub const BN_EPS: f64 = 1e-5;

/// One layer of the network and where its parameters live in the flat vector.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerShape {
    pub fan_in: usize,
    pub units: usize,
    pub activation: Activation,
    pub w_off: usize,
    pub b_off: usize,
    /// Offset of γ (β follows at `+units`) when this layer has batch norm.
    pub gamma_off: Option<usize>,
}

/// The whole network: input dimension, layers, total parameter count.
#[derive(Debug, Clone, PartialEq)]
pub struct NetShape {
    pub input_dim: usize,
    pub layers: Vec<LayerShape>,
    pub n_params: usize,
    pub max_units: usize,
}

impl NetShape {
    /// `widths[l]` units with `activations[l]` per layer; batch norm on every hidden layer if `bn`.
    pub fn new(input_dim: usize, widths: &[usize], activations: &[Activation], bn: bool) -> NetShape {
        assert_eq!(widths.len(), activations.len());
        let mut layers = Vec::with_capacity(widths.len());
        let mut off = 0;
        let mut fan_in = input_dim;
        for (l, (&u, &act)) in widths.iter().zip(activations).enumerate() {
            let hidden = l + 1 < widths.len();
            let w_off = off;
            let b_off = w_off + fan_in * u;
            off = b_off + u;
            let gamma_off = if bn && hidden {
                let g = off;
                off += 2 * u;
                Some(g)
            } else {
                None
            };
            layers.push(LayerShape {
                fan_in,
                units: u,
                activation: act,
                w_off,
                b_off,
                gamma_off,
            });
            fan_in = u;
        }
        let max_units = widths.iter().copied().max().unwrap_or(0).max(input_dim);
        NetShape {
            input_dim,
            layers,
            n_params: off,
            max_units,
        }
    }

    pub fn output_units(&self) -> usize {
        self.layers.last().map_or(0, |l| l.units)
    }
}

/// Work buffers for up to `m_max` samples at once, allocated once per group of runs.
pub struct Buffers<const N: usize> {
    /// Per layer: pre-activation after batch norm (`y`), `[s·units + j]`.
    pub z: Vec<Vec<Lanes<N>>>,
    /// Per layer: x̂ of batch norm.
    pub xhat: Vec<Vec<Lanes<N>>>,
    /// Per layer: activations.
    pub a: Vec<Vec<Lanes<N>>>,
    /// Per layer: 1/√(σ²+ε) of batch norm, `[j]`.
    pub inv_std: Vec<Vec<Lanes<N>>>,
    /// ∂ℓ/∂(pre-activation) of the current layer and of the one below (ping-pong).
    pub delta: Vec<Lanes<N>>,
    pub delta_prev: Vec<Lanes<N>>,
}

impl<const N: usize> Buffers<N> {
    pub fn new(shape: &NetShape, m_max: usize) -> Self {
        let per_layer =
            |f: &dyn Fn(&LayerShape) -> usize| -> Vec<Vec<Lanes<N>>> { shape.layers.iter().map(|l| vec![Lanes::zero(); f(l)]).collect() };
        Buffers {
            z: per_layer(&|l| m_max * l.units),
            xhat: per_layer(&|l| if l.gamma_off.is_some() { m_max * l.units } else { 0 }),
            a: per_layer(&|l| m_max * l.units),
            inv_std: per_layer(&|l| if l.gamma_off.is_some() { l.units } else { 0 }),
            delta: vec![Lanes::zero(); m_max * shape.max_units],
            delta_prev: vec![Lanes::zero(); m_max * shape.max_units],
        }
    }
}

/// Calls `$f` with the layer widths as constants for the common small shapes (fully unrolled
/// kernels), and with 0, 0 — meaning "use the run-time widths" — otherwise. Every variant
/// performs the same operations in the same order, so the bits do not depend on which one ran.
macro_rules! with_widths {
    ($fi:expr, $u:expr, |$FI:ident, $U:ident| $call:expr) => {
        match ($fi, $u) {
            (1, 2) => {
                const $FI: usize = 1;
                const $U: usize = 2;
                $call
            }
            (1, 4) => {
                const $FI: usize = 1;
                const $U: usize = 4;
                $call
            }
            (1, 8) => {
                const $FI: usize = 1;
                const $U: usize = 8;
                $call
            }
            (2, 2) => {
                const $FI: usize = 2;
                const $U: usize = 2;
                $call
            }
            (2, 4) => {
                const $FI: usize = 2;
                const $U: usize = 4;
                $call
            }
            (4, 1) => {
                const $FI: usize = 4;
                const $U: usize = 1;
                $call
            }
            (4, 2) => {
                const $FI: usize = 4;
                const $U: usize = 2;
                $call
            }
            (4, 4) => {
                const $FI: usize = 4;
                const $U: usize = 4;
                $call
            }
            (8, 2) => {
                const $FI: usize = 8;
                const $U: usize = 2;
                $call
            }
            _ => {
                const $FI: usize = 0;
                const $U: usize = 0;
                $call
            }
        }
    };
}

/// Picks the compile-time width when given (≠ 0), else the run-time one.
#[inline(always)]
const fn width(fixed: usize, dynamic: usize) -> usize {
    if fixed != 0 { fixed } else { dynamic }
}

/// z[s,j] = b[j] + Σ_i w[j,i]·x[s,i] (i ascending) for the m samples.
#[inline(always)]
fn affine<const N: usize, const FI: usize, const U: usize>(
    w: &[Lanes<N>],
    b: &[Lanes<N>],
    x: &[Lanes<N>],
    z: &mut [Lanes<N>],
    m: usize,
    fi: usize,
    u: usize,
) {
    let (fi, u) = (width(FI, fi), width(U, u));
    let (w, b) = (&w[..fi * u], &b[..u]);
    for s in 0..m {
        let xs = &x[s * fi..(s + 1) * fi];
        let zs = &mut z[s * u..(s + 1) * u];
        for j in 0..u {
            let wj = &w[j * fi..(j + 1) * fi];
            let mut acc = b[j];
            for i in 0..fi {
                acc = wj[i].mul_add(xs[i], acc);
            }
            zs[j] = acc;
        }
    }
}

/// ∂L/∂b[j] = Σ_s δ[s,j] and ∂L/∂w[j,i] = Σ_s δ[s,j]·x[s,i] (s ascending), handed to `sink`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn weight_grads<const N: usize, const FI: usize, const U: usize, S: GradSink<N>>(
    delta: &[Lanes<N>],
    x: &[Lanes<N>],
    params: &mut [Lanes<N>],
    sink: &mut S,
    w_off: usize,
    b_off: usize,
    m: usize,
    fi: usize,
    u: usize,
) {
    let (fi, u) = (width(FI, fi), width(U, u));
    // The sums start from their first term (not from 0 + first term: one operation less per
    // sum, which matters for online SGD where m = 1; m ≥ 1 always).
    for j in 0..u {
        let mut b = delta[j];
        for s in 1..m {
            b += delta[s * u + j];
        }
        sink.put(params, b_off + j, b);
        for i in 0..fi {
            let mut g = delta[j] * x[i];
            for s in 1..m {
                g = delta[s * u + j].mul_add(x[s * fi + i], g);
            }
            sink.put(params, w_off + j * fi + i, g);
        }
    }
}

/// ∂L/∂a_below[s,i] = Σ_j w[j,i]·δ[s,j] (j ascending).
#[inline(always)]
fn back_prop<const N: usize, const FI: usize, const U: usize>(
    w: &[Lanes<N>],
    delta: &[Lanes<N>],
    out: &mut [Lanes<N>],
    m: usize,
    fi: usize,
    u: usize,
) {
    let (fi, u) = (width(FI, fi), width(U, u));
    let w = &w[..fi * u];
    for s in 0..m {
        let ds = &delta[s * u..(s + 1) * u];
        for i in 0..fi {
            let mut acc = w[i] * ds[0];
            for j in 1..u {
                acc = w[j * fi + i].mul_add(ds[j], acc);
            }
            out[s * fi + i] = acc;
        }
    }
}

/// Forward pass of `m` samples, inputs `x[s·input_dim + i]`. Batch norm uses the statistics of
/// these `m` samples. Results are left in `buf.z` / `buf.a`.
#[inline(always)]
pub fn forward<const N: usize>(shape: &NetShape, params: &[Lanes<N>], x: &[Lanes<N>], m: usize, buf: &mut Buffers<N>) {
    for (l, layer) in shape.layers.iter().enumerate() {
        let (fi, u) = (layer.fan_in, layer.units);
        let (before, rest) = buf.a.split_at_mut(l);
        let input: &[Lanes<N>] = if l == 0 { x } else { &before[l - 1] };
        let out = &mut rest[0];
        let z = &mut buf.z[l];
        let w = &params[layer.w_off..layer.w_off + fi * u];
        let b = &params[layer.b_off..layer.b_off + u];
        with_widths!(fi, u, |FI, U| affine::<N, FI, U>(w, b, input, z, m, fi, u));
        if let Some(g_off) = layer.gamma_off {
            let gamma = &params[g_off..g_off + u];
            let beta = &params[g_off + u..g_off + 2 * u];
            let xhat = &mut buf.xhat[l];
            let inv_std = &mut buf.inv_std[l];
            let mf = Lanes::splat(m as f64);
            for j in 0..u {
                let mut sum = Lanes::zero();
                for s in 0..m {
                    sum += z[s * u + j];
                }
                let mean = sum / mf;
                let mut ss = Lanes::zero();
                for s in 0..m {
                    let d = z[s * u + j] - mean;
                    ss += d * d;
                }
                let var = ss / mf;
                let inv = Lanes::splat(1.0) / (var + Lanes::splat(BN_EPS)).sqrt();
                inv_std[j] = inv;
                for s in 0..m {
                    let xh = (z[s * u + j] - mean) * inv;
                    xhat[s * u + j] = xh;
                    z[s * u + j] = gamma[j] * xh + beta[j];
                }
            }
        }
        activate(layer.activation, &z[..m * u], &mut out[..m * u], u);
    }
}

#[inline(always)]
fn activate<const N: usize>(act: Activation, z: &[Lanes<N>], a: &mut [Lanes<N>], u: usize) {
    match act {
        Activation::Sigmoid => {
            for (o, v) in a.iter_mut().zip(z) {
                *o = v.sigmoid();
            }
        }
        Activation::Relu => {
            for (o, v) in flat_mut(a).iter_mut().zip(flat(z)) {
                *o = if *v > 0.0 { *v } else { 0.0 };
            }
        }
        Activation::LeakyRelu => {
            for (o, v) in flat_mut(a).iter_mut().zip(flat(z)) {
                *o = if *v > 0.0 { *v } else { *v * LEAKY_SLOPE };
            }
        }
        Activation::Tanh => {
            for (o, v) in a.iter_mut().zip(z) {
                *o = v.tanh();
            }
        }
        Activation::Linear => flat_mut(a).copy_from_slice(flat(z)),
        Activation::Softmax => {
            for (zs, as_) in z.chunks_exact(u).zip(a.chunks_exact_mut(u)) {
                let mut mx = zs[0];
                for v in &zs[1..] {
                    mx = v.max_of(mx);
                }
                let mut sum = Lanes::zero();
                for (o, v) in as_.iter_mut().zip(zs) {
                    *o = (*v - mx).exp();
                    sum += *o;
                }
                let inv = Lanes::splat(1.0) / sum;
                for o in as_.iter_mut() {
                    *o *= inv;
                }
            }
        }
    }
}

/// Derivative of the activation, from pre-activation `z` and output `a`.
#[inline(always)]
pub(crate) fn act_grad<const N: usize>(act: Activation, z: Lanes<N>, a: Lanes<N>) -> Lanes<N> {
    let one = Lanes::splat(1.0);
    match act {
        Activation::Sigmoid => a * (one - a),
        Activation::Tanh => one - a * a,
        // ReLU'(0) = 0, as in PyTorch.
        Activation::Relu => z.select_pos(one, Lanes::zero()),
        Activation::LeakyRelu => z.select_pos(one, Lanes::splat(LEAKY_SLOPE)),
        Activation::Linear => one,
        Activation::Softmax => unreachable!("softmax is handled with the cross-entropy loss"),
    }
}

/// Where [`backward`] puts each parameter's gradient: stored ([`Store`], for gradient checks) or
/// applied at once as an SGD step ([`Sgd`], for training — no gradient buffer is written and
/// re-read). Both see the same gradient value; the update is PyTorch's rule, each step one fused
/// multiply-add (a single rounding).
pub trait GradSink<const N: usize> {
    fn put(&mut self, params: &mut [Lanes<N>], idx: usize, g: Lanes<N>);
}

/// Stores gradients: `grad[idx] = g`.
pub struct Store<'a, const N: usize>(pub &'a mut [Lanes<N>]);

impl<const N: usize> GradSink<N> for Store<'_, N> {
    #[inline(always)]
    fn put(&mut self, _params: &mut [Lanes<N>], idx: usize, g: Lanes<N>) {
        self.0[idx] = g;
    }
}

/// Applies SGD: θ ← θ − lr·g, or with momentum v ← μ·v + g; θ ← θ − lr·v.
pub struct Sgd<'a, const N: usize> {
    pub lr: Lanes<N>,
    pub momentum: Lanes<N>,
    /// Velocity buffer, `None` for plain SGD.
    pub velocity: Option<&'a mut [Lanes<N>]>,
}

impl<const N: usize> GradSink<N> for Sgd<'_, N> {
    #[inline(always)]
    fn put(&mut self, params: &mut [Lanes<N>], idx: usize, g: Lanes<N>) {
        match self.velocity.as_deref_mut() {
            None => params[idx] = (-self.lr).mul_add(g, params[idx]),
            Some(v) => {
                v[idx] = self.momentum.mul_add(v[idx], g);
                params[idx] = (-self.lr).mul_add(v[idx], params[idx]);
            }
        }
    }
}

/// Backward pass after [`forward`] on the same `m` samples with targets `t[s·out + k]`:
/// hands ∂L/∂θ of the batch loss L = (1/m)·Σ_s ℓ_s to `sink`, layer by layer from the top.
/// A layer's parameters are handed over only after they were used to propagate the gradient
/// further down, so an [`Sgd`] sink updates them in place safely.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn backward<const N: usize, S: GradSink<N>>(
    shape: &NetShape,
    loss: Loss,
    params: &mut [Lanes<N>],
    x: &[Lanes<N>],
    t: &[Lanes<N>],
    m: usize,
    buf: &mut Buffers<N>,
    sink: &mut S,
) {
    let nl = shape.layers.len();
    let inv_m = Lanes::splat(1.0 / m as f64);
    // Output layer delta.
    {
        let last = &shape.layers[nl - 1];
        let u = last.units;
        let (a, z) = (&buf.a[nl - 1], &buf.z[nl - 1]);
        for idx in 0..m * u {
            // ×(1/m) is skipped for m = 1: multiplying by 1.0 changes no bit.
            let diff = if m == 1 { a[idx] - t[idx] } else { (a[idx] - t[idx]) * inv_m };
            buf.delta[idx] = match (loss, last.activation) {
                // softmax + cross-entropy: ∂ℓ/∂z = p − t
                (Loss::Ce, _) => diff,
                (Loss::Mse, act) => diff * act_grad(act, z[idx], a[idx]),
            };
        }
    }
    for l in (0..nl).rev() {
        let layer = &shape.layers[l];
        let (fi, u) = (layer.fan_in, layer.units);
        if l + 1 < nl {
            // buf.delta holds ∂L/∂a of this layer; turn it into ∂L/∂(pre-activation).
            let (z, a) = (&buf.z[l][..m * u], &buf.a[l][..m * u]);
            let d = &mut buf.delta[..m * u];
            match layer.activation {
                // ReLU'(0) = 0, as in PyTorch.
                Activation::Relu => {
                    for (d, z) in flat_mut(d).iter_mut().zip(flat(z)) {
                        *d = if *z > 0.0 { *d } else { 0.0 };
                    }
                }
                Activation::LeakyRelu => {
                    for (d, z) in flat_mut(d).iter_mut().zip(flat(z)) {
                        *d = if *z > 0.0 { *d } else { *d * LEAKY_SLOPE };
                    }
                }
                Activation::Linear => {}
                act => {
                    for idx in 0..m * u {
                        d[idx] *= act_grad(act, z[idx], a[idx]);
                    }
                }
            }
            if let Some(g_off) = layer.gamma_off {
                let xhat = &buf.xhat[l];
                let inv_std = &buf.inv_std[l];
                let mf = Lanes::splat(m as f64);
                for j in 0..u {
                    let (mut sg, mut sgx) = (Lanes::zero(), Lanes::zero());
                    for s in 0..m {
                        let g = buf.delta[s * u + j];
                        sg += g;
                        sgx += g * xhat[s * u + j];
                    }
                    let k = params[g_off + j] * inv_std[j] / mf; // γ read before it is updated
                    sink.put(params, g_off + j, sgx); // ∂L/∂γ
                    sink.put(params, g_off + u + j, sg); // ∂L/∂β
                    for s in 0..m {
                        let idx = s * u + j;
                        buf.delta[idx] = k * (mf * buf.delta[idx] - sg - xhat[idx] * sgx);
                    }
                }
            }
        }
        let input: &[Lanes<N>] = if l == 0 { x } else { &buf.a[l - 1] };
        if l > 0 {
            // ∂L/∂a of the layer below, with this layer's weights before their update.
            let w = &params[layer.w_off..layer.w_off + fi * u];
            with_widths!(fi, u, |FI, U| back_prop::<N, FI, U>(w, &buf.delta, &mut buf.delta_prev, m, fi, u));
        }
        // Weight and bias gradients, handed to the sink.
        with_widths!(fi, u, |FI, U| weight_grads::<N, FI, U, S>(
            &buf.delta,
            input,
            params,
            sink,
            layer.w_off,
            layer.b_off,
            m,
            fi,
            u
        ));
        if l > 0 {
            std::mem::swap(&mut buf.delta, &mut buf.delta_prev);
        }
    }
}

/// Per-sample loss of sample `s` after a forward pass (MSE: ½Σₖ(yₖ−tₖ)²; CE: −ln p_target,
/// computed as logsumexp(z) − z_target for accuracy).
#[inline(always)]
pub fn sample_loss<const N: usize>(shape: &NetShape, loss: Loss, buf: &Buffers<N>, t: &[Lanes<N>], s: usize) -> Lanes<N> {
    let nl = shape.layers.len();
    let u = shape.layers[nl - 1].units;
    let ts = &t[s * u..(s + 1) * u];
    match loss {
        Loss::Mse => {
            let a = &buf.a[nl - 1][s * u..(s + 1) * u];
            let mut acc = Lanes::zero();
            for k in 0..u {
                let d = a[k] - ts[k];
                acc = d.mul_add(d, acc);
            }
            acc * Lanes::splat(0.5)
        }
        Loss::Ce => {
            let z = &buf.z[nl - 1][s * u..(s + 1) * u];
            let mut mx = z[0];
            for v in &z[1..] {
                mx = v.max_of(mx);
            }
            let mut sum = Lanes::zero();
            let mut zt = Lanes::zero();
            for k in 0..u {
                sum += (z[k] - mx).exp();
                zt += ts[k] * z[k];
            }
            mx + sum.map(super::lanes::ln) - zt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batch-norm forward and backward against torch float64 vectors (torch.nn.functional.batch_norm, training mode).
    #[allow(clippy::too_many_arguments)]
    fn bn_vector(x: &[f64], gamma: f64, beta: f64, g: &[f64], y_ref: &[f64], dx_ref: &[f64], dgamma: f64, dbeta: f64) {
        let m = x.len();
        // A linear hidden layer of 1 unit with weight 1, bias 0, fed x, with BN; output layer
        // linear with weight 1 / bias 0 and MSE loss whose target makes ∂L/∂y = g.
        let shape = NetShape::new(1, &[1, 1], &[Activation::Linear, Activation::Linear], true);
        let l0 = &shape.layers[0];
        let l1 = &shape.layers[1];
        let mut p = vec![Lanes::<1>::zero(); shape.n_params];
        p[l0.w_off] = Lanes([1.0]);
        p[l0.gamma_off.unwrap()] = Lanes([gamma]);
        p[l0.gamma_off.unwrap() + 1] = Lanes([beta]);
        p[l1.w_off] = Lanes([1.0]);
        let xs: Vec<Lanes<1>> = x.iter().map(|&v| Lanes([v])).collect();
        let mut buf = Buffers::<1>::new(&shape, m);
        forward(&shape, &p, &xs, m, &mut buf);
        for s in 0..m {
            assert!((buf.z[0][s].0[0] - y_ref[s]).abs() < 1e-9, "y[{s}]");
        }
        // MSE with mean over batch: ∂L/∂y_s = (y_s − t_s)/m ⇒ choose t_s = y_s − m·g_s.
        let t: Vec<Lanes<1>> = (0..m).map(|s| Lanes([buf.a[1][s].0[0] - m as f64 * g[s]])).collect();
        let mut grad = vec![Lanes::<1>::zero(); shape.n_params];
        backward(&shape, Loss::Mse, &mut p, &xs, &t, m, &mut buf, &mut Store(&mut grad));
        let g_off = l0.gamma_off.unwrap();
        assert!((grad[g_off].0[0] - dgamma).abs() < 1e-9, "dgamma {}", grad[g_off].0[0]);
        assert!((grad[g_off + 1].0[0] - dbeta).abs() < 1e-9, "dbeta");
        // ∂L/∂x_s = ∂L/∂z_s (w = 1): the delta of layer 0 is Σ over the weight gradient's terms.
        // dW = Σ_s dz_s·x_s, db = Σ_s dz_s; check dz itself through a second input layout:
        // recover dz_s by finite weights: use grad of w against x = e_s is not possible, so
        // recompute from the stored delta (layer 0 is the last processed).
        for s in 0..m {
            assert!(
                (buf.delta[s].0[0] - dx_ref[s]).abs() < 1e-9,
                "dx[{s}] {} vs {}",
                buf.delta[s].0[0],
                dx_ref[s]
            );
        }
    }

    #[test]
    fn batch_norm_matches_torch_vectors() {
        bn_vector(
            &[1.0, 2.0, 3.0, 4.0],
            1.0,
            0.0,
            &[1.0, 0.0, 0.0, 0.0],
            &[-1.3416354200, -0.4472118067, 0.4472118067, 1.3416354200],
            &[0.2683303039, -0.3577683720, -0.0894434346, 0.1788815028],
            -1.3416354200,
            1.0,
        );
        bn_vector(
            &[0.0, 0.25, 0.5, 0.75, 1.0],
            1.5,
            -0.5,
            &[0.1, -0.2, 0.3, -0.4, 0.5],
            &[-2.6212354958, -1.5606177479, -0.5, 0.5606177479, 1.6212354958],
            &[0.6787546342, -0.8485145606, 1.0181930380, -2.2060645534, 1.3576314418],
            0.4242470992,
            0.3,
        );
        bn_vector(
            &[0.0, 1.0],
            1.0,
            0.0,
            &[1.0, 0.0],
            &[-0.9999800006, 0.9999800006],
            &[3.999760012e-05, -3.999760012e-05],
            -0.9999800006,
            1.0,
        );
    }

    #[test]
    fn layout_offsets() {
        let s = NetShape::new(1, &[4, 2], &[Activation::Relu, Activation::Sigmoid], false);
        assert_eq!(s.n_params, 4 + 4 + 8 + 2);
        let s = NetShape::new(2, &[3, 2], &[Activation::Relu, Activation::Sigmoid], true);
        assert_eq!(s.layers[0].gamma_off, Some(9));
        assert_eq!(s.layers[1].w_off, 15);
        assert_eq!(s.n_params, 15 + 6 + 2);
    }
}
