//! Parameter initialisation: distributions exactly as torch.nn.init defines them, and the
//! article's question — the *order* in which one random stream hands values to positions.
//!
//! Sources:
//! * PyTorch `torch/nn/init.py`: `xavier_uniform_` a = gain·√(6/(fan_in+fan_out)),
//!   `xavier_normal_` std = gain·√(2/(fan_in+fan_out)) [Glorot & Bengio 2010, eq. 16];
//!   `kaiming_uniform_` bound = √3·gain/√fan_in, `kaiming_normal_` std = gain/√fan_in with
//!   gain = √2 for ReLU [He et al. 2015, arXiv:1502.01852];
//! * `nn.Linear.reset_parameters`: weight `kaiming_uniform_(a=√5)` ⇒ bound = 1/√fan_in, bias
//!   U(±1/√fan_in);
//! * LeCun et al. 1998 "Efficient BackProp": σ = 1/√fan_in. PyTorch has no LeCun initialiser;
//!   we use `kaiming_*` with gain 1 (nonlinearity "linear"), i.e. plain (untruncated) normal
//!   with std 1/√fan_in and U(±√(3/fan_in)). (Keras' `lecun_normal` truncates at 2σ; we do not.)
//!
//! The arithmetic mirrors torch's Python expression by expression (e.g. √3·(gain/√fan)) so
//! that bounds agree to the last bit.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::net::NetShape;
use super::spec::{BiasInit, InitDist, InitOrder};

/// A concrete scalar distribution for one layer's weights or biases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    Uniform { lo: f64, hi: f64 },
    Normal { mean: f64, std: f64 },
    Const(f64),
}

impl Sampler {
    /// Draws one value. `Uniform` uses one 53-bit uniform in [0,1); `Normal` the ziggurat
    /// standard normal of rand_distr scaled by `std`; `Const` draws nothing.
    #[inline]
    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Sampler::Uniform { lo, hi } => {
                let u: f64 = rng.random();
                lo + (hi - lo) * u
            }
            Sampler::Normal { mean, std } => {
                let z: f64 = StandardNormal.sample(rng);
                mean + std * z
            }
            Sampler::Const(c) => c,
        }
    }
    /// Mean of the distribution.
    pub fn mean(&self) -> f64 {
        match *self {
            Sampler::Uniform { lo, hi } => (lo + hi) / 2.0,
            Sampler::Normal { mean, .. } => mean,
            Sampler::Const(c) => c,
        }
    }
    /// Variance of the distribution.
    pub fn variance(&self) -> f64 {
        match *self {
            Sampler::Uniform { lo, hi } => (hi - lo) * (hi - lo) / 12.0,
            Sampler::Normal { std, .. } => std * std,
            Sampler::Const(_) => 0.0,
        }
    }
}

/// torch.nn.init.calculate_gain('relu') = √2.
const RELU_GAIN: f64 = std::f64::consts::SQRT_2;

/// The weight distribution of a layer with `fan_in` inputs and `fan_out` units.
pub fn weight_sampler(dist: InitDist, fan_in: usize, fan_out: usize) -> Sampler {
    let fi = fan_in as f64;
    let fo = fan_out as f64;
    let sqrt3 = 3f64.sqrt();
    // kaiming_*: std = gain / sqrt(fan); bound = sqrt(3) * std
    let kaiming_std = |gain: f64| gain / fi.sqrt();
    match dist {
        InitDist::Uniform { a, b } => Sampler::Uniform { lo: a, hi: b },
        InitDist::Normal { mean, std } => Sampler::Normal { mean, std },
        InitDist::XavierUniform => {
            // std = gain * sqrt(2/(fan_in+fan_out)); a = sqrt(3) * std
            let a = sqrt3 * (2.0 / (fi + fo)).sqrt();
            Sampler::Uniform { lo: -a, hi: a }
        }
        InitDist::XavierNormal => Sampler::Normal {
            mean: 0.0,
            std: (2.0 / (fi + fo)).sqrt(),
        },
        InitDist::HeUniform => {
            let b = sqrt3 * kaiming_std(RELU_GAIN);
            Sampler::Uniform { lo: -b, hi: b }
        }
        InitDist::HeNormal => Sampler::Normal {
            mean: 0.0,
            std: kaiming_std(RELU_GAIN),
        },
        InitDist::LecunUniform => {
            let b = sqrt3 * kaiming_std(1.0);
            Sampler::Uniform { lo: -b, hi: b }
        }
        InitDist::LecunNormal => Sampler::Normal {
            mean: 0.0,
            std: kaiming_std(1.0),
        },
        InitDist::TorchDefault => {
            // kaiming_uniform_(a=√5): gain = sqrt(2/(1+a²)) = sqrt(1/3)
            let gain = (2.0f64 / (1.0 + 5.0)).sqrt();
            let b = sqrt3 * kaiming_std(gain);
            Sampler::Uniform { lo: -b, hi: b }
        }
    }
}

/// The bias distribution of a layer, given its weight distribution.
pub fn bias_sampler(bias: BiasInit, weights: Sampler, fan_in: usize) -> Sampler {
    match bias {
        BiasInit::Zeros => Sampler::Const(0.0),
        BiasInit::Const(c) => Sampler::Const(c),
        BiasInit::Same => weights,
        BiasInit::Uniform { a, b } => Sampler::Uniform { lo: a, hi: b },
        BiasInit::Normal { mean, std } => Sampler::Normal { mean, std },
        BiasInit::TorchDefault => {
            let b = 1.0 / (fan_in as f64).sqrt();
            Sampler::Uniform { lo: -b, hi: b }
        }
    }
}

/// Fills `params` (the flat layout of [`NetShape`]) from one random stream, in `order`.
/// Batch-norm γ start at 1 and β at 0 and draw nothing. Allocation-free.
pub fn init_params<R: rand::Rng + ?Sized>(
    shape: &NetShape,
    dist: InitDist,
    bias: BiasInit,
    order: InitOrder,
    rng: &mut R,
    params: &mut [f64],
) {
    debug_assert_eq!(params.len(), shape.n_params);
    for layer in &shape.layers {
        let ws = weight_sampler(dist, layer.fan_in, layer.units);
        let bs = bias_sampler(bias, ws, layer.fan_in);
        let (fi, u) = (layer.fan_in, layer.units);
        let w = layer.w_off;
        let b = layer.b_off;
        match order {
            InitOrder::Neuron => {
                for j in 0..u {
                    for i in 0..fi {
                        params[w + j * fi + i] = ws.draw(rng);
                    }
                    params[b + j] = bs.draw(rng);
                }
            }
            InitOrder::Layer => {
                for i in 0..fi {
                    for j in 0..u {
                        params[w + j * fi + i] = ws.draw(rng);
                    }
                }
                for j in 0..u {
                    params[b + j] = bs.draw(rng);
                }
            }
            InitOrder::BiasFirst => {
                for j in 0..u {
                    params[b + j] = bs.draw(rng);
                }
                for j in 0..u {
                    for i in 0..fi {
                        params[w + j * fi + i] = ws.draw(rng);
                    }
                }
            }
        }
        if let Some(g) = layer.gamma_off {
            params[g..g + u].fill(1.0);
            params[g + u..g + 2 * u].fill(0.0); // β follows γ
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::seed::init_rng;
    use crate::core::spec::Activation;

    fn shape(widths: &[usize], bn: bool) -> NetShape {
        let acts = vec![Activation::Relu; widths.len() - 1];
        NetShape::new(widths[0], &widths[1..], &acts, bn)
    }

    /// PyTorch bounds for the tool's shapes (computed by PyTorch 2.x for these shapes).
    #[test]
    fn bounds_equal_the_torch_formulas() {
        let h = 4usize;
        let hf = h as f64;
        let ub = |s: Sampler| match s {
            Sampler::Uniform { hi, lo } => {
                assert_eq!(lo, -hi);
                hi
            }
            _ => panic!("not uniform"),
        };
        let sd = |s: Sampler| match s {
            Sampler::Normal { std, mean } => {
                assert_eq!(mean, 0.0);
                std
            }
            _ => panic!("not normal"),
        };
        assert!((ub(weight_sampler(InitDist::TorchDefault, 1, h)) - 1.0).abs() < 1e-15);
        assert!((ub(weight_sampler(InitDist::TorchDefault, h, 2)) - 1.0 / hf.sqrt()).abs() < 1e-15);
        // computed by PyTorch: calculate_gain('leaky_relu', √5)·√3 = 0.9999999999999999
        assert_eq!(ub(weight_sampler(InitDist::TorchDefault, 1, h)), 0.9999999999999999);
        assert!((ub(weight_sampler(InitDist::XavierUniform, 1, h)) - (6.0 / (1.0 + hf)).sqrt()).abs() < 1e-15);
        assert!((ub(weight_sampler(InitDist::XavierUniform, h, 2)) - (6.0 / (hf + 2.0)).sqrt()).abs() < 1e-15);
        assert!((ub(weight_sampler(InitDist::HeUniform, 1, h)) - 2.449489742783178).abs() < 1e-15);
        assert!((ub(weight_sampler(InitDist::HeUniform, h, 2)) - (6.0 / hf).sqrt()).abs() < 1e-15);
        assert!((sd(weight_sampler(InitDist::HeNormal, 1, h)) - 2f64.sqrt()).abs() < 1e-15);
        assert!((sd(weight_sampler(InitDist::HeNormal, h, 2)) - (2.0 / hf).sqrt()).abs() < 1e-15);
        assert!((sd(weight_sampler(InitDist::XavierNormal, 3, 5)) - (2.0f64 / 8.0).sqrt()).abs() < 1e-15);
        assert!((sd(weight_sampler(InitDist::LecunNormal, 1, h)) - 1.0).abs() < 1e-15);
        assert!((sd(weight_sampler(InitDist::LecunNormal, h, 2)) - 1.0 / hf.sqrt()).abs() < 1e-15);
        assert!((ub(weight_sampler(InitDist::LecunUniform, 9, 2)) - (3.0f64 / 9.0).sqrt()).abs() < 1e-15);
        assert_eq!(ub(bias_sampler(BiasInit::TorchDefault, Sampler::Const(0.0), 4)), 0.5);
    }

    /// Mean and variance of every distribution over 200k draws, at several fan-in/fan-out,
    /// within 5 standard errors (uniform max |x| within the bound).
    #[test]
    fn moments_within_statistical_bounds() {
        let dists = [
            "uniform(-1,1)",
            "uniform(0.2,0.7)",
            "normal(0.5,2)",
            "xavier_uniform",
            "xavier_normal",
            "he_uniform",
            "he_normal",
            "lecun_uniform",
            "lecun_normal",
            "torch_default",
        ];
        let mut rng = init_rng(12345);
        let n = 200_000;
        for d in dists {
            for (fi, fo) in [(1usize, 4usize), (4, 2), (16, 8)] {
                let s = weight_sampler(d.parse().unwrap(), fi, fo);
                let (mut sum, mut sum2, mut max_abs_dev) = (0.0, 0.0, 0.0f64);
                for _ in 0..n {
                    let x = s.draw(&mut rng);
                    sum += x;
                    sum2 += x * x;
                    max_abs_dev = max_abs_dev.max((x - s.mean()).abs());
                }
                let mean = sum / n as f64;
                let var = sum2 / n as f64 - mean * mean;
                let (mu, v) = (s.mean(), s.variance());
                let se_mean = (v / n as f64).sqrt();
                assert!((mean - mu).abs() < 5.0 * se_mean, "{d} {fi}x{fo}: mean {mean} vs {mu}");
                // Var of the sample variance ≈ (μ4 − σ⁴)/n; μ4 = 1.8σ⁴ (uniform), 3σ⁴ (normal)
                let k = if matches!(s, Sampler::Uniform { .. }) { 0.8 } else { 2.0 };
                let se_var = (k * v * v / n as f64).sqrt();
                assert!((var - v).abs() < 5.0 * se_var, "{d} {fi}x{fo}: var {var} vs {v}");
                if let Sampler::Uniform { lo, hi } = s {
                    assert!(max_abs_dev <= (hi - lo) / 2.0);
                    assert!(max_abs_dev > 0.999 * (hi - lo) / 2.0);
                }
            }
        }
    }

    fn layer_multisets(shape: &NetShape, p: &[f64]) -> Vec<Vec<u64>> {
        shape
            .layers
            .iter()
            .map(|l| {
                let mut v: Vec<u64> = p[l.w_off..l.w_off + l.fan_in * l.units]
                    .iter()
                    .chain(&p[l.b_off..l.b_off + l.units])
                    .map(|x| x.to_bits())
                    .collect();
                v.sort_unstable();
                v
            })
            .collect()
    }

    /// With bias init `same`, every order hands out the same multiset of numbers per layer,
    /// only permuted — and the permutation really differs.
    #[test]
    fn init_orders_permute_the_same_numbers() {
        for dist in ["uniform(-1,1)", "he_normal", "xavier_uniform"] {
            let sh = shape(&[2, 3, 5, 2], false);
            let mut all = Vec::new();
            for order in InitOrder::ALL {
                let mut p = vec![0.0; sh.n_params];
                init_params(&sh, dist.parse().unwrap(), BiasInit::Same, *order, &mut init_rng(7), &mut p);
                all.push(p);
            }
            let m0 = layer_multisets(&sh, &all[0]);
            for p in &all[1..] {
                assert_eq!(layer_multisets(&sh, p), m0);
                assert_ne!(p, &all[0]);
            }
        }
    }

    #[test]
    fn neuron_order_is_weights_then_bias_per_unit() {
        let sh = shape(&[1, 3, 2], false);
        let mut p = vec![0.0; sh.n_params];
        init_params(
            &sh,
            "uniform(-1,1)".parse().unwrap(),
            BiasInit::Same,
            InitOrder::Neuron,
            &mut init_rng(3),
            &mut p,
        );
        let mut rng = init_rng(3);
        let s = Sampler::Uniform { lo: -1.0, hi: 1.0 };
        let l0 = &sh.layers[0];
        for j in 0..3 {
            assert_eq!(p[l0.w_off + j], s.draw(&mut rng));
            assert_eq!(p[l0.b_off + j], s.draw(&mut rng));
        }
        let mut p2 = vec![0.0; sh.n_params];
        init_params(
            &sh,
            "uniform(-1,1)".parse().unwrap(),
            BiasInit::Same,
            InitOrder::Layer,
            &mut init_rng(3),
            &mut p2,
        );
        let mut rng = init_rng(3);
        for j in 0..3 {
            assert_eq!(p2[l0.w_off + j], s.draw(&mut rng));
        }
        for j in 0..3 {
            assert_eq!(p2[l0.b_off + j], s.draw(&mut rng));
        }
    }

    #[test]
    fn batch_norm_affine_starts_at_identity() {
        let sh = shape(&[1, 3, 2], true);
        let mut p = vec![f64::NAN; sh.n_params];
        init_params(
            &sh,
            "he_normal".parse().unwrap(),
            BiasInit::Zeros,
            InitOrder::Layer,
            &mut init_rng(1),
            &mut p,
        );
        let g = sh.layers[0].gamma_off.unwrap();
        assert_eq!(&p[g..g + 3], &[1.0; 3]);
        assert_eq!(&p[g + 3..g + 6], &[0.0; 3]);
        assert!(p.iter().all(|x| x.is_finite()));
        assert_eq!(&p[sh.layers[0].b_off..sh.layers[0].b_off + 3], &[0.0; 3]);
    }
}
