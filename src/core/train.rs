//! Training: a validated [`TrainSpec`], the per-run [`RunResult`], and the lane scheduler
//! that trains many replicates of one cell side by side.
// Numeric kernels index explicitly: the index order is the summation order, which the
// bit-for-bit guarantees depend on.
#![allow(clippy::needless_range_loop)]

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::data::Dataset;
use super::init::init_params;
use super::lanes::{Lanes, flat};
use super::net::{Buffers, NetShape, Sgd, Store, backward, forward, sample_loss};
use super::seed::{init_rng, shuffle_rng};
use super::spec::{Activation, Batch, BiasInit, InitDist, InitOrder, Layout, Loss, SampleOrder, Targets};

/// Every training parameter of one cell, in its typed form.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    pub dataset: Arc<Dataset>,
    pub targets: Targets,
    pub layout: Layout,
    /// Width of hidden layers whose layout token gives none.
    pub hidden: u32,
    pub init_order: InitOrder,
    pub init_dist: InitDist,
    pub bias_init: BiasInit,
    pub batch_norm: bool,
    pub loss: Loss,
    pub batch: Batch,
    pub sample_order: SampleOrder,
    pub lr: f64,
    pub momentum: f64,
    pub max_epochs: u32,
    /// Converged when the mean loss ≤ tol and every sample is classified correctly.
    pub tol: f64,
    /// Diverged when the loss exceeds this (or anything is non-finite).
    pub diverge_loss: f64,
}

impl TrainSpec {
    /// The article's defaults around a data set, a layout and a learning rate.
    pub fn new(dataset: Dataset, layout: Layout, lr: f64) -> TrainSpec {
        let loss = if layout.output() == Activation::Softmax {
            Loss::Ce
        } else {
            Loss::Mse
        };
        TrainSpec {
            dataset: Arc::new(dataset),
            targets: Targets::Onehot,
            layout,
            hidden: 4,
            init_order: InitOrder::Neuron,
            init_dist: InitDist::Uniform { a: -1.0, b: 1.0 },
            bias_init: BiasInit::Same,
            batch_norm: false,
            loss,
            batch: Batch::Online,
            sample_order: SampleOrder::Fixed,
            lr,
            momentum: 0.0,
            max_epochs: 2000,
            tol: 0.01,
            diverge_loss: 1e6,
        }
    }
}

/// Why a spec cannot be trained. `key` names the parameter to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SpecError {
    pub key: &'static str,
    pub message: String,
}

fn bad<T>(key: &'static str, message: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError {
        key,
        message: message.into(),
    })
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Mean loss ≤ tol and every sample classified correctly.
    Converged,
    /// Loss or a parameter non-finite, or loss > diverge_loss.
    Diverged,
    /// Not converged, and some ReLU layer is inactive on every sample (no gradient below it).
    Dead,
    /// Anything else when max_epochs is reached.
    Stalled,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Converged, Outcome::Diverged, Outcome::Dead, Outcome::Stalled];
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Converged => "converged",
            Outcome::Diverged => "diverged",
            Outcome::Dead => "dead",
            Outcome::Stalled => "stalled",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown outcome `{s}`: use converged, diverged, dead or stalled"))
    }
}

/// What one run produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunResult {
    pub outcome: Outcome,
    /// Epoch at which the outcome was decided (convergence, divergence, death under plain SGD),
    /// or max_epochs.
    pub epochs: u32,
    pub final_loss: f64,
    /// Smallest finite epoch loss seen (entry 0 included); +∞ if none was finite.
    pub min_loss: f64,
    /// Fraction of samples classified correctly at the end.
    pub accuracy: f64,
    /// Some ReLU layer inactive on every sample at initialisation.
    pub born_dead: bool,
    pub dead_units_init: u32,
    pub dead_units_final: u32,
    /// max |θ| at the end (NaN/∞ for diverged runs).
    pub max_abs_param: f64,
}

/// Parameters of one layer, for display and JSON: `weights[j][i]` is from input i to unit j.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerParams {
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gamma: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub beta: Option<Vec<f64>>,
}

/// All layers' parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub layers: Vec<LayerParams>,
}

/// Epoch-by-epoch record of one run (entry 0 = before training).
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    pub losses: Vec<f64>,
    pub accuracies: Vec<f64>,
    pub dead_units: Vec<u32>,
    pub initial_params: Params,
    pub final_params: Params,
}

/// A validated, ready-to-train cell: the spec plus everything derived from it once.
#[derive(Debug, Clone)]
pub struct Trainer {
    spec: TrainSpec,
    shape: NetShape,
    /// Samples per update.
    batch_size: usize,
    /// Death is permanent (plain SGD, no mini-batch BN statistics), so a dead run may stop.
    stop_when_dead: bool,
    /// One-hot or binary targets per sample, `[s·out + k]`.
    targets: Vec<f64>,
}

impl Trainer {
    /// Checks the spec once and derives the network. Errors name the parameter and the fix.
    pub fn new(spec: TrainSpec) -> Result<Trainer, SpecError> {
        let d = &spec.dataset;
        if d.is_empty() {
            return bad("dataset", "the data set has no points");
        }
        if !(spec.lr.is_finite() && spec.lr > 0.0) {
            return bad(
                "lr",
                format!("learning rate {} must be a positive finite number, e.g. 0.1", spec.lr),
            );
        }
        if !(spec.momentum.is_finite() && (0.0..1.0).contains(&spec.momentum)) {
            return bad("momentum", format!("momentum {} must be in [0, 1)", spec.momentum));
        }
        if spec.max_epochs == 0 {
            return bad("max_epochs", "max_epochs must be ≥ 1");
        }
        if !(spec.tol.is_finite() && spec.tol >= 0.0) {
            return bad("tol", format!("tol {} must be a finite number ≥ 0, e.g. 0.01", spec.tol));
        }
        if spec.diverge_loss.is_nan() || spec.diverge_loss <= spec.tol {
            return bad(
                "diverge_loss",
                format!("diverge_loss {} must be above tol {}", spec.diverge_loss, spec.tol),
            );
        }
        if spec.hidden == 0 {
            return bad("hidden", "hidden must be ≥ 1");
        }
        let out_act = spec.layout.output();
        match (spec.loss, out_act == Activation::Softmax) {
            (Loss::Ce, false) => {
                return bad(
                    "loss",
                    format!(
                        "loss \"ce\" needs a softmax output layer, but layout `{}` ends in {}: use loss = \"mse\" or end the layout in softmax",
                        spec.layout,
                        out_act.name()
                    ),
                );
            }
            (Loss::Mse, true) => {
                return bad("loss", format!("a softmax output needs loss = \"ce\" (layout `{}`)", spec.layout));
            }
            _ => {}
        }
        let out_units = match spec.targets {
            Targets::Onehot => d.classes,
            Targets::Binary => {
                if d.classes != 2 {
                    return bad(
                        "targets",
                        format!(
                            "binary targets need labels 0/1, but data set `{}` has {} classes: use targets = \"onehot\"",
                            d.name, d.classes
                        ),
                    );
                }
                if out_act == Activation::Softmax {
                    return bad(
                        "targets",
                        "softmax over a single binary output is constant: use targets = \"onehot\" with softmax",
                    );
                }
                1
            }
        };
        let n_layers = spec.layout.0.len();
        let mut widths = Vec::with_capacity(n_layers);
        let mut acts = Vec::with_capacity(n_layers);
        for (l, tok) in spec.layout.0.iter().enumerate() {
            let last = l + 1 == n_layers;
            let w = match (tok.width, last) {
                (Some(w), true) if w as usize != out_units => {
                    return bad(
                        "layout",
                        format!(
                            "the output layer of `{}` has width {w}, but {} targets need {out_units} output node(s): drop the width or change `targets`",
                            spec.layout, spec.targets
                        ),
                    );
                }
                (Some(w), _) => w as usize,
                (None, true) => out_units,
                (None, false) => spec.hidden as usize,
            };
            widths.push(w);
            acts.push(tok.activation);
        }
        let n = d.len();
        let batch_size = spec.batch.size(n);
        if spec.batch_norm {
            if batch_size < 2 {
                return bad(
                    "batch_norm",
                    format!(
                        "batch norm needs batches of ≥ 2 samples, but batch = \"{}\" gives {batch_size}: use batch = \"full\" or an integer ≥ 2, or batch_norm = false",
                        spec.batch
                    ),
                );
            }
            if n % batch_size == 1 {
                return bad(
                    "batch",
                    format!(
                        "batch {} on {n} points leaves a last batch of 1 sample, which batch norm cannot normalise: choose a batch size that does not leave 1",
                        spec.batch
                    ),
                );
            }
        }
        let shape = NetShape::new(d.dim, &widths, &acts, spec.batch_norm);
        let mut targets = vec![0.0; n * out_units];
        for (s, &lab) in d.labels.iter().enumerate() {
            match spec.targets {
                Targets::Onehot => targets[s * out_units + lab as usize] = 1.0,
                Targets::Binary => targets[s] = lab as f64,
            }
        }
        let stop_when_dead = spec.momentum == 0.0 && (!spec.batch_norm || batch_size == n);
        Ok(Trainer {
            spec,
            shape,
            batch_size,
            stop_when_dead,
            targets,
        })
    }

    pub fn spec(&self) -> &TrainSpec {
        &self.spec
    }
    pub fn shape(&self) -> &NetShape {
        &self.shape
    }

    /// Sample-steps per epoch (forward + backward of one sample for one replicate).
    pub fn steps_per_epoch(&self) -> usize {
        self.spec.dataset.len()
    }

    /// Never stop a dead run early (for benchmarks that must train every epoch).
    pub fn disable_early_stop(&mut self) {
        self.stop_when_dead = false;
    }

    /// Trains one run from `seed` (scalar path, `N = 1`).
    pub fn run(&self, seed: u64) -> RunResult {
        let mut out = None;
        self.run_lanes::<1>(&[seed], None, |_, r| out = Some(r));
        out.expect("one result")
    }

    /// Trains one run and records its trajectory, for `replay`.
    pub fn run_trajectory(&self, seed: u64) -> (RunResult, Trajectory) {
        let mut out = None;
        let mut traj = Trajectory {
            losses: Vec::new(),
            accuracies: Vec::new(),
            dead_units: Vec::new(),
            initial_params: Params { layers: Vec::new() },
            final_params: Params { layers: Vec::new() },
        };
        self.run_lanes::<1>(&[seed], Some(&mut traj), |_, r| out = Some(r));
        (out.expect("one result"), traj)
    }

    /// Trains every seed in `seeds`, `LANES` at a time in SIMD lanes, and reports
    /// `(index into seeds, result)` as each finishes. A finished lane is refilled with the next
    /// seed at once, so early stopping stays per replicate. Results are bit-identical to
    /// [`Trainer::run`] for every seed, whatever `LANES` is.
    pub fn run_many(&self, seeds: &[u64], on_result: impl FnMut(usize, RunResult)) {
        crate::core::dispatch::run_many(self, seeds, on_result)
    }

    /// The lane scheduler, generic over the lane count.
    #[inline(always)]
    pub(crate) fn run_lanes<const N: usize>(
        &self,
        seeds: &[u64],
        mut traj: Option<&mut Trajectory>,
        mut on_result: impl FnMut(usize, RunResult),
    ) {
        let mut g = Group::<N>::new(self);
        let mut lanes: [LaneState; N] = std::array::from_fn(|_| LaneState::idle());
        let mut next = 0usize;
        for k in 0..N {
            if next < seeds.len() {
                g.start_lane(self, k, seeds[next], &mut lanes[k]);
                lanes[k].job = next;
                next += 1;
            }
        }
        if let Some(t) = traj.as_deref_mut() {
            t.initial_params = g.export_params(self, 0);
        }
        let max_epochs = self.spec.max_epochs;
        loop {
            let ev = g.evaluate(self);
            let mut refilled = false;
            // Lanes that may decide now: at epoch 0, or when something ends a run. Computed on
            // whole vectors first; most epochs nobody decides and only the running minimum moves.
            let decide = ev.decisions(self.spec.tol, self.spec.diverge_loss, self.stop_when_dead);
            for k in 0..N {
                let st = &mut lanes[k];
                if !st.active || !st.needs_check {
                    continue;
                }
                st.needs_check = false;
                if traj.is_none() && st.epoch != 0 && st.epoch != max_epochs && decide.0[k] == 0.0 {
                    let l = ev.loss.0[k];
                    if l < st.min_loss {
                        st.min_loss = l; // finite here: a non-finite loss is a decision
                    }
                    continue;
                }
                let e = ev.lane(k);
                if st.epoch == 0 {
                    st.born_dead = e.dead_layer;
                    st.dead_units_init = e.dead_units;
                }
                if e.loss.is_finite() && e.loss < st.min_loss {
                    st.min_loss = e.loss;
                }
                if let Some(t) = traj.as_deref_mut() {
                    t.losses.push(e.loss);
                    t.accuracies.push(e.accuracy);
                    t.dead_units.push(e.dead_units);
                }
                let diverged = !e.loss.is_finite() || e.loss > self.spec.diverge_loss || !e.params_finite;
                let outcome = if diverged {
                    Some(Outcome::Diverged)
                } else if e.loss <= self.spec.tol && e.all_correct {
                    Some(Outcome::Converged)
                } else if e.dead_layer && (self.stop_when_dead || st.epoch == max_epochs) {
                    Some(Outcome::Dead)
                } else if st.epoch == max_epochs {
                    Some(Outcome::Stalled)
                } else {
                    None
                };
                if let Some(outcome) = outcome {
                    let r = RunResult {
                        outcome,
                        epochs: st.epoch,
                        final_loss: e.loss,
                        min_loss: st.min_loss,
                        accuracy: e.accuracy,
                        born_dead: st.born_dead,
                        dead_units_init: st.dead_units_init,
                        dead_units_final: e.dead_units,
                        max_abs_param: e.max_abs_param,
                    };
                    if let Some(t) = traj.as_deref_mut() {
                        t.final_params = g.export_params(self, k);
                    }
                    on_result(st.job, r);
                    if next < seeds.len() {
                        g.start_lane(self, k, seeds[next], st);
                        st.job = next;
                        next += 1;
                        refilled = true;
                    } else {
                        st.active = false;
                    }
                }
            }
            if refilled {
                continue; // evaluate the fresh lanes at their epoch 0 before training
            }
            if lanes.iter().all(|l| !l.active) {
                break;
            }
            g.train_epoch(self, &mut lanes);
            for st in lanes.iter_mut().filter(|l| l.active) {
                st.epoch += 1;
                st.needs_check = true;
            }
        }
    }
}

/// Bookkeeping of one lane.
struct LaneState {
    active: bool,
    needs_check: bool,
    job: usize,
    epoch: u32,
    min_loss: f64,
    born_dead: bool,
    dead_units_init: u32,
    shuffle: Option<ChaCha8Rng>,
    perm: Vec<u32>,
}

impl LaneState {
    fn idle() -> Self {
        LaneState {
            active: false,
            needs_check: false,
            job: 0,
            epoch: 0,
            min_loss: f64::INFINITY,
            born_dead: false,
            dead_units_init: 0,
            shuffle: None,
            perm: Vec::new(),
        }
    }
}

/// Evaluation of every lane on the whole data set.
struct Eval<const N: usize> {
    loss: Lanes<N>,
    correct: Lanes<N>,
    /// Counts and flags as 0.0/1.0 per lane, so that they are computed as vectors.
    dead_units: Lanes<N>,
    dead_layer: Lanes<N>,
    max_abs: Lanes<N>,
    bad: Lanes<N>,
    n: f64,
}

struct LaneEval {
    loss: f64,
    accuracy: f64,
    all_correct: bool,
    dead_units: u32,
    dead_layer: bool,
    max_abs_param: f64,
    params_finite: bool,
}

impl<const N: usize> Eval<N> {
    /// 1.0 where the lane's run ends at this evaluation (diverged, converged, or dead and
    /// allowed to stop), as one vector computation. Must agree with the per-lane rules in
    /// `run_lanes`, which it only short-cuts.
    #[inline(always)]
    fn decisions(&self, tol: f64, diverge_loss: f64, stop_when_dead: bool) -> Lanes<N> {
        let one = Lanes::splat(1.0);
        let zero = Lanes::zero();
        // Same rule as the per-lane check: loss non-finite (NaN fails every compare) or above
        // diverge_loss (which may itself be +∞), or a non-finite parameter.
        let div = self
            .loss
            .zip(
                Lanes::splat(diverge_loss),
                |l, d| if l <= d && l < f64::INFINITY { 0.0 } else { 1.0 },
            )
            .max_of(self.bad);
        let n = Lanes::splat(self.n);
        let all_correct = self.correct.zip(n, |c, n| if c == n { 1.0 } else { 0.0 });
        let low = self.loss.zip(Lanes::splat(tol), |l, t| if l <= t { 1.0 } else { 0.0 });
        let conv = (low * all_correct).select_pos(one, zero);
        let dead = if stop_when_dead { self.dead_layer } else { zero };
        div.max_of(conv).max_of(dead)
    }

    fn lane(&self, k: usize) -> LaneEval {
        LaneEval {
            loss: self.loss.0[k],
            accuracy: self.correct.0[k] / self.n,
            all_correct: self.correct.0[k] == self.n,
            dead_units: self.dead_units.0[k] as u32,
            dead_layer: self.dead_layer.0[k] > 0.0,
            max_abs_param: self.max_abs.0[k],
            params_finite: self.bad.0[k] == 0.0,
        }
    }
}

/// Parameters, optimiser state and buffers of a group of `N` lanes.
struct Group<const N: usize> {
    params: Vec<Lanes<N>>,
    vel: Vec<Lanes<N>>,
    /// Scratch for initialising one lane.
    scalar: Vec<f64>,
    /// Inputs / targets of the whole data set in data order (broadcast to all lanes).
    xd: Vec<Lanes<N>>,
    td: Vec<Lanes<N>>,
    /// Inputs / targets in this epoch's order, per lane.
    xe: Vec<Lanes<N>>,
    te: Vec<Lanes<N>>,
    train_buf: Buffers<N>,
    eval_buf: Buffers<N>,
    labels: Vec<f64>,
}

impl<const N: usize> Group<N> {
    fn new(t: &Trainer) -> Self {
        let d = &t.spec.dataset;
        let n = d.len();
        let out = t.shape.output_units();
        let xd: Vec<Lanes<N>> = d.inputs.iter().map(|&v| Lanes::splat(v)).collect();
        let td: Vec<Lanes<N>> = t.targets.iter().map(|&v| Lanes::splat(v)).collect();
        debug_assert_eq!(td.len(), n * out);
        Group {
            params: vec![Lanes::zero(); t.shape.n_params],
            vel: vec![Lanes::zero(); t.shape.n_params],
            scalar: vec![0.0; t.shape.n_params],
            xe: xd.clone(),
            te: td.clone(),
            xd,
            td,
            train_buf: Buffers::new(&t.shape, t.batch_size),
            eval_buf: Buffers::new(&t.shape, n),
            labels: d.labels.iter().map(|&l| l as f64).collect(),
        }
    }

    /// Initialises lane `k` for a new run from `seed`.
    fn start_lane(&mut self, t: &Trainer, k: usize, seed: u64, st: &mut LaneState) {
        let s = &t.spec;
        init_params(
            &t.shape,
            s.init_dist,
            s.bias_init,
            s.init_order,
            &mut init_rng(seed),
            &mut self.scalar,
        );
        for (p, &v) in self.params.iter_mut().zip(&self.scalar) {
            p.0[k] = v;
        }
        for v in self.vel.iter_mut() {
            v.0[k] = 0.0;
        }
        st.active = true;
        st.needs_check = true;
        st.epoch = 0;
        st.min_loss = f64::INFINITY;
        st.born_dead = false;
        st.dead_units_init = 0;
        if s.sample_order == SampleOrder::Shuffled {
            st.shuffle = Some(shuffle_rng(seed));
            st.perm.clear(); // reuse the buffer: no allocation per run
            st.perm.extend(0..s.dataset.len() as u32);
        }
    }

    fn export_params(&self, t: &Trainer, k: usize) -> Params {
        let p = |i: usize| self.params[i].0[k];
        Params {
            layers: t
                .shape
                .layers
                .iter()
                .map(|l| LayerParams {
                    weights: (0..l.units)
                        .map(|j| (0..l.fan_in).map(|i| p(l.w_off + j * l.fan_in + i)).collect())
                        .collect(),
                    bias: (0..l.units).map(|j| p(l.b_off + j)).collect(),
                    gamma: l.gamma_off.map(|g| (0..l.units).map(|j| p(g + j)).collect()),
                    beta: l.gamma_off.map(|g| (0..l.units).map(|j| p(g + l.units + j)).collect()),
                })
                .collect(),
        }
    }

    /// Forward pass over the whole data set (batch norm with whole-data statistics) and the
    /// per-lane checks that decide a run's outcome.
    #[inline(always)]
    fn evaluate(&mut self, t: &Trainer) -> Eval<N> {
        let shape = &t.shape;
        let n = t.spec.dataset.len();
        let buf = &mut self.eval_buf;
        forward(shape, &self.params, &self.xd, n, buf);
        let nl = shape.layers.len();
        let out = shape.output_units();
        let mut loss = Lanes::zero();
        let mut correct = Lanes::zero();
        let a = &buf.a[nl - 1];
        for s in 0..n {
            loss += sample_loss(shape, t.spec.loss, buf, &self.td, s);
            let label = Lanes::splat(self.labels[s]);
            let pred = if out == 1 {
                // binary: class 1 when y ≥ 0.5
                a[s].zip(Lanes::splat(0.5), |y, h| if y >= h { 1.0 } else { 0.0 })
            } else {
                let mut best = a[s * out];
                let mut idx = Lanes::zero();
                for k in 1..out {
                    let v = a[s * out + k];
                    let kk = Lanes::splat(k as f64);
                    idx = (v - best).select_pos(kk, idx);
                    best = (v - best).select_pos(v, best);
                }
                idx
            };
            correct += pred.zip(label, |p, l| if p == l { 1.0 } else { 0.0 });
        }
        loss = loss / Lanes::splat(n as f64);
        // Dead ReLU units and layers, as whole-vector operations: a unit is dead when its
        // pre-activation is ≤ 0 on every sample, i.e. its maximum over the samples is not > 0.
        let (one, zero) = (Lanes::splat(1.0), Lanes::zero());
        let mut dead_units = zero;
        let mut dead_layer = zero;
        for (l, layer) in shape.layers.iter().enumerate() {
            if layer.activation != Activation::Relu {
                continue;
            }
            let u = layer.units;
            let z = &buf.z[l];
            let mut alive_units = zero;
            for j in 0..u {
                let mut mx = z[j];
                for s in 1..n {
                    mx = z[s * u + j].max_of(mx);
                }
                alive_units += mx.select_pos(one, zero);
            }
            dead_units += Lanes::splat(u as f64) - alive_units;
            // layer dead ⇔ no unit alive
            dead_layer = dead_layer.max_of(alive_units.select_pos(zero, one));
        }
        // max |θ| and finiteness (|θ| ≤ MAX is false for ±∞ and NaN).
        let mut max_abs = zero;
        let mut bad = zero;
        let pf = flat(&self.params);
        for c in pf.chunks_exact(N) {
            let a = Lanes::<N>(c.try_into().expect("N lanes")).abs();
            max_abs = a.max_of(max_abs);
            bad = bad.max_of(a.zip(Lanes::splat(f64::MAX), |x, m| if x <= m { 0.0 } else { 1.0 }));
        }
        let max_abs = bad.zip(max_abs, |b, m| if b > 0.0 { f64::INFINITY } else { m });
        Eval {
            loss,
            correct,
            dead_units,
            dead_layer,
            max_abs,
            bad,
            n: n as f64,
        }
    }

    /// One epoch of (mini-)batch SGD for every lane. Must directly follow [`Self::evaluate`]
    /// with the parameters unchanged since (the run loop's order): its forward pass is reused.
    #[inline(always)]
    fn train_epoch(&mut self, t: &Trainer, lanes: &mut [LaneState; N]) {
        let s = &t.spec;
        let d = &s.dataset;
        let n = d.len();
        let dim = d.dim;
        let out = t.shape.output_units();
        if s.sample_order == SampleOrder::Shuffled {
            for (k, st) in lanes.iter_mut().enumerate() {
                let Some(rng) = st.shuffle.as_mut() else { continue };
                for (i, p) in st.perm.iter_mut().enumerate() {
                    *p = i as u32;
                }
                st.perm.shuffle(rng);
                for (pos, &src) in st.perm.iter().enumerate() {
                    let src = src as usize;
                    for i in 0..dim {
                        self.xe[pos * dim + i].0[k] = d.inputs[src * dim + i];
                    }
                    for c in 0..out {
                        self.te[pos * out + c].0[k] = t.targets[src * out + c];
                    }
                }
            }
        }
        let (lr, mom) = (Lanes::splat(s.lr), Lanes::splat(s.momentum));
        let bs = t.batch_size;
        // The evaluation that precedes every epoch ran the forward pass of the whole data set
        // at these very parameters. In fixed order the first batch is its first samples, and
        // without batch norm (or with one full batch, whose statistics are the evaluation's)
        // every per-sample value is the same operation sequence on the same inputs: reuse it
        // (same bits, one forward pass less per epoch).
        let reuse_eval = s.sample_order != SampleOrder::Shuffled && (!s.batch_norm || bs >= n);
        let mut start = 0;
        while start < n {
            let m = bs.min(n - start);
            let x = &self.xe[start * dim..(start + m) * dim];
            let tt = &self.te[start * out..(start + m) * out];
            let buf = if start == 0 && reuse_eval {
                &mut self.eval_buf
            } else {
                forward(&t.shape, &self.params, x, m, &mut self.train_buf);
                &mut self.train_buf
            };
            let mut sgd = Sgd {
                lr,
                momentum: mom,
                velocity: if s.momentum == 0.0 { None } else { Some(&mut self.vel[..]) },
            };
            backward(&t.shape, s.loss, &mut self.params, x, tt, m, buf, &mut sgd);
            start += m;
        }
    }
}

/// The loss of the whole data set and its gradient at `params` (scalar, batch-norm statistics
/// of the whole set): the quantity the finite-difference checks verify.
pub fn loss_and_grad(t: &Trainer, params: &[f64]) -> (f64, Vec<f64>) {
    let shape = &t.shape;
    let d = &t.spec.dataset;
    let n = d.len();
    let p: Vec<Lanes<1>> = params.iter().map(|&v| Lanes([v])).collect();
    let x: Vec<Lanes<1>> = d.inputs.iter().map(|&v| Lanes([v])).collect();
    let tt: Vec<Lanes<1>> = t.targets.iter().map(|&v| Lanes([v])).collect();
    let mut buf = Buffers::<1>::new(shape, n);
    forward(shape, &p, &x, n, &mut buf);
    let mut loss = 0.0;
    for s in 0..n {
        loss += sample_loss(shape, t.spec.loss, &buf, &tt, s).0[0];
    }
    loss /= n as f64;
    let mut g = vec![Lanes::<1>::zero(); shape.n_params];
    let mut p = p;
    backward(shape, t.spec.loss, &mut p, &x, &tt, n, &mut buf, &mut Store(&mut g));
    (loss, g.into_iter().map(|v| v.0[0]).collect())
}
