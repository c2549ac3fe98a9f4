//! Training: a validated [`TrainSpec`], the per-run [`RunResult`], and the lane scheduler
//! that trains many replicates of one cell side by side.
// Numeric kernels index explicitly: the index order is the summation order, which the
// bit-for-bit guarantees depend on.
#![allow(clippy::needless_range_loop)]

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::capacity::{self, Requirement};
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
    /// Not converged, and provably never will be: some ReLU layer is inactive on every sample
    /// (no gradient below it), or too few live hidden units are left for the data
    /// ([`DeadCause`]).
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

/// Why a run is [`Outcome::Dead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadCause {
    /// A whole ReLU layer is inactive on every training point (takes precedence).
    Layer,
    /// Too few live units in the one hidden ReLU layer for the data's label alternations
    /// (proof in [`super::capacity`]).
    Capacity,
}

impl DeadCause {
    pub const ALL: [DeadCause; 2] = [DeadCause::Layer, DeadCause::Capacity];
    pub fn name(self) -> &'static str {
        match self {
            DeadCause::Layer => "layer",
            DeadCause::Capacity => "capacity",
        }
    }
}

impl std::fmt::Display for DeadCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeadCause {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DeadCause::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown dead cause `{s}`: use layer or capacity"))
    }
}

/// How a run that did not converge failed — measured, never asserted. One-line definitions:
///
/// * `born_doomed` — dead at epoch 0: a whole ReLU layer inactive on every point, or too few
///   live units for the data (proof in [`super::capacity`]); it can never converge.
/// * `died_doomed` — became dead or doomed during training (epoch > 0), for the same reasons.
/// * `diverged` — the loss or a parameter became non-finite, or the loss exceeded diverge_loss.
/// * `still_improving` — ran out of budget while the loss was still falling: the final loss is
///   below the loss at 90 % of the budget by more than [`Mechanism::IMPROVING_MARGIN`] (relative).
/// * `plateau` — ran out of budget with no such progress over the last 10 % of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    BornDoomed,
    DiedDoomed,
    Diverged,
    StillImproving,
    Plateau,
}

impl Mechanism {
    pub const ALL: [Mechanism; 5] = [
        Mechanism::BornDoomed,
        Mechanism::DiedDoomed,
        Mechanism::Diverged,
        Mechanism::StillImproving,
        Mechanism::Plateau,
    ];
    /// Relative drop of the loss over the last 10 % of the budget that counts as "still
    /// improving": final_loss < (1 − 0.01) · loss_at_90pct.
    pub const IMPROVING_MARGIN: f64 = 0.01;

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::BornDoomed => "born_doomed",
            Mechanism::DiedDoomed => "died_doomed",
            Mechanism::Diverged => "diverged",
            Mechanism::StillImproving => "still_improving",
            Mechanism::Plateau => "plateau",
        }
    }

    /// The mechanism of a run (`None` for a converged run).
    pub fn of(r: &RunResult) -> Option<Mechanism> {
        match r.outcome {
            Outcome::Converged => None,
            Outcome::Diverged => Some(Mechanism::Diverged),
            Outcome::Dead if r.epochs == 0 => Some(Mechanism::BornDoomed),
            Outcome::Dead => Some(Mechanism::DiedDoomed),
            Outcome::Stalled => {
                if r.final_loss < (1.0 - Self::IMPROVING_MARGIN) * r.loss_at_90pct {
                    Some(Mechanism::StillImproving)
                } else {
                    Some(Mechanism::Plateau) // includes a NaN loss_at_90pct (compare is false)
                }
            }
        }
    }
}

impl std::str::FromStr for Mechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mechanism `{s}`"))
    }
}

/// The one NaN a result stores: the positive quiet NaN `0x7ff8_0000_0000_0000`. The sign and
/// payload of a NaN that arithmetic produces are the hardware's (x86 gives `0xfff8…` for an
/// invalid operation, ARM `0x7ff8…`) and Rust leaves them unspecified, so every NaN loss or
/// parameter bound is stored as this one: the same bits on every CPU.
#[inline(always)]
pub(crate) fn canonical_nan(x: f64) -> f64 {
    if x.is_nan() { f64::NAN } else { x }
}

/// Whether two stored values are the same: the same bits, or both NaN (of any sign or payload:
/// results written before NaNs were stored as [`canonical_nan`] hold the hardware's NaN).
#[inline]
pub fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// What one run produced. Two results are equal when every field has the same bits, every NaN
/// counting as the same value ([`same_value`]: a NaN loss equals itself, so `==` means "the
/// same run outcome", and is an equivalence); +0.0 and −0.0 differ.
#[derive(Debug, Clone, Copy)]
pub struct RunResult {
    pub outcome: Outcome,
    /// Epoch at which the outcome was decided (convergence, divergence, death under plain SGD —
    /// for a capacity-doomed run the epoch it became doomed, 0 if born doomed), or max_epochs.
    pub epochs: u32,
    /// Why the run is dead; `None` for every other outcome.
    pub dead_cause: Option<DeadCause>,
    pub final_loss: f64,
    /// Smallest finite epoch loss seen (entry 0 included); +∞ if none was finite.
    pub min_loss: f64,
    /// Fraction of samples classified correctly at the end.
    pub accuracy: f64,
    /// Some ReLU layer inactive on every sample at initialisation.
    pub born_dead: bool,
    pub dead_units_init: u32,
    pub dead_units_final: u32,
    /// ReLU units (summed over every ReLU layer, output included) active on at least one
    /// training point at epoch 0 and at the end: `live + dead = ReLU units`.
    pub live_units_init: u32,
    pub live_units_final: u32,
    /// Whole-data loss at epoch 0.
    pub initial_loss: f64,
    /// Whole-data loss at epoch ⌈0.9·max_epochs⌉ if the run got there (so `final_loss` of a run
    /// decided exactly then), else NaN.
    pub loss_at_90pct: f64,
    /// max |θ| at the end (NaN/∞ for diverged runs).
    pub max_abs_param: f64,
}

impl PartialEq for RunResult {
    fn eq(&self, o: &Self) -> bool {
        let f = same_value;
        self.outcome == o.outcome
            && self.epochs == o.epochs
            && self.dead_cause == o.dead_cause
            && f(self.final_loss, o.final_loss)
            && f(self.min_loss, o.min_loss)
            && f(self.accuracy, o.accuracy)
            && self.born_dead == o.born_dead
            && self.dead_units_init == o.dead_units_init
            && self.dead_units_final == o.dead_units_final
            && self.live_units_init == o.live_units_init
            && self.live_units_final == o.live_units_final
            && f(self.initial_loss, o.initial_loss)
            && f(self.loss_at_90pct, o.loss_at_90pct)
            && f(self.max_abs_param, o.max_abs_param)
    }
}

impl Eq for RunResult {}

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
    /// Live ReLU units per epoch (as [`RunResult::live_units_final`]).
    pub live_units: Vec<u32>,
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
    /// Live hidden units the data needs, when the capacity proof covers this network.
    capacity: Option<Requirement>,
    /// Stop capacity-doomed runs (when `stop_when_dead` also holds).
    doom_stop: bool,
    /// ReLU units over all layers (`live + dead`).
    relu_units: u32,
    /// Stop a run whose state stopped moving (see [`Trainer::run_lanes_with`]): on when an
    /// epoch is a pure function of the state (fixed sample order).
    stationary_stop: bool,
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
        // Permanence of a dead unit is proven for plain SGD without batch norm only.
        let capacity = if spec.momentum == 0.0 && !spec.batch_norm {
            capacity::requirement(d, &shape, spec.targets, spec.tol)
        } else {
            None
        };
        let relu_units = shape
            .layers
            .iter()
            .filter(|l| l.activation == Activation::Relu)
            .map(|l| l.units as u32)
            .sum();
        let stationary_stop = spec.sample_order == SampleOrder::Fixed;
        Ok(Trainer {
            spec,
            shape,
            batch_size,
            stop_when_dead,
            targets,
            capacity,
            doom_stop: true,
            relu_units,
            stationary_stop,
        })
    }

    pub fn spec(&self) -> &TrainSpec {
        &self.spec
    }
    pub fn shape(&self) -> &NetShape {
        &self.shape
    }

    /// Samples per update.
    pub(crate) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Sample-steps per epoch (forward + backward of one sample for one replicate).
    pub fn steps_per_epoch(&self) -> usize {
        self.spec.dataset.len()
    }

    /// A dead layer is permanent here (plain SGD, no mini-batch batch-norm statistics), so a
    /// dead run is decided at the epoch it died; otherwise `dead` is only judged at max_epochs.
    pub fn death_is_permanent(&self) -> bool {
        self.stop_when_dead
    }

    /// Never stop a dead run early, nor a stationary one (for benchmarks that must train
    /// every epoch).
    pub fn disable_early_stop(&mut self) {
        self.stop_when_dead = false;
        self.stationary_stop = false;
    }

    /// Train stationary runs to max_epochs instead of completing them at their fixed point
    /// (the results are the same bits either way: the tests check that).
    pub fn disable_stationary_stop(&mut self) {
        self.stationary_stop = false;
    }

    /// Never stop or label a run for capacity doom: runs train as before the rule existed
    /// (to check the rule, e.g. that no doomed run ever converges).
    pub fn disable_doom_stop(&mut self) {
        self.doom_stop = false;
    }

    /// The capacity rule's requirement for this cell (live hidden units needed, or the data is
    /// unfittable), when the proof covers it (one hidden ReLU layer, 1-D input, 2 classes,
    /// plain SGD, no batch norm): see [`super::capacity`].
    pub fn capacity(&self) -> Option<Requirement> {
        self.capacity
    }

    /// Lanes with fewer live hidden units than this are doomed; 0 when the rule is off.
    fn doom_threshold(&self) -> f64 {
        match self.capacity {
            Some(r) if self.doom_stop && self.stop_when_dead => r.threshold(),
            _ => 0.0,
        }
    }

    /// Epoch at which `loss_at_90pct` is taken: ⌈0.9·max_epochs⌉ in integers.
    fn epoch_90pct(&self) -> u32 {
        ((9 * self.spec.max_epochs as u64).div_ceil(10)) as u32
    }

    fn criteria(&self) -> Criteria {
        Criteria {
            tol: self.spec.tol,
            diverge_loss: self.spec.diverge_loss,
            stop_when_dead: self.stop_when_dead,
        }
    }

    /// Trains one run from `seed` (scalar path, `N = 1`).
    pub fn run(&self, seed: u64) -> RunResult {
        let mut out = None;
        self.run_lanes::<1>(&[seed], None, &mut |_, r| out = Some(r));
        out.expect("one result")
    }

    /// Trains one run and records its trajectory, for `replay`.
    pub fn run_trajectory(&self, seed: u64) -> (RunResult, Trajectory) {
        let mut out = None;
        let mut traj = Trajectory {
            losses: Vec::new(),
            accuracies: Vec::new(),
            dead_units: Vec::new(),
            live_units: Vec::new(),
            initial_params: Params { layers: Vec::new() },
            final_params: Params { layers: Vec::new() },
        };
        self.run_lanes::<1>(&[seed], Some(&mut traj), &mut |_, r| out = Some(r));
        (out.expect("one result"), traj)
    }

    // `Trainer::run_many` (SIMD dispatch over `run_lanes`) lives in `super::dispatch`, so this
    // module never imports the dispatcher: dependencies inside `core` point one way.

    /// The lane scheduler, generic over the lane count, with the generic kernels.
    #[inline(always)]
    pub(crate) fn run_lanes<const N: usize>(&self, seeds: &[u64], traj: Option<&mut Trajectory>, on_result: OnResult<'_>) {
        self.run_lanes_with::<N, Generic>(seeds, traj, on_result)
    }

    /// The lane scheduler: trains `seeds` in groups of `N` lanes with kernel `K`, refilling a
    /// lane with the next seed as soon as its run is decided.
    ///
    /// Every epoch the kernel *screens* all lanes (the loss and a vector of "decides now"
    /// flags). In most epochs no lane decides and none is at a recorded epoch (0, the 90 % point,
    /// max_epochs): then only the running minimum of the loss moves, as one vector operation,
    /// and the group trains on. Otherwise every lane is looked at one by one, with the full
    /// evaluation (computed on demand by the generic code when the kernel did not: the
    /// parameters have not moved since the screen, so its values are the same bits).
    ///
    /// **Stationary runs.** With a fixed sample order an epoch is a pure function of the
    /// state (parameters and velocities): if one epoch leaves a lane's state unchanged bit
    /// for bit, every later epoch does too, and the run's remaining evaluations all equal the
    /// current one. Such a lane is completed at once with exactly the record that training
    /// to max_epochs would give: decided as at max_epochs, `epochs = max_epochs`, the loss
    /// at the 90 % point the current loss if that point is still ahead. (ReLU networks whose
    /// outputs died on some points reach such fixed points: see [`Stationary`].) Not with a
    /// trajectory, which records every epoch.
    #[inline(always)]
    pub(crate) fn run_lanes_with<const N: usize, K: Kernel<N>>(
        &self,
        seeds: &[u64],
        mut traj: Option<&mut Trajectory>,
        on_result: OnResult<'_>,
    ) {
        let mut g = Group::<N>::new(self);
        let mut kern = K::new(self);
        let mut lanes: [LaneState; N] = std::array::from_fn(|_| LaneState::idle());
        // Running minimum of each lane's loss since its epoch 0.
        let mut mins = Lanes::<N>::splat(f64::INFINITY);
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
        let e90 = self.epoch_90pct();
        let doom_at = self.doom_threshold();
        let rule = self.criteria();
        let mut watch = Stationary::new(self, &g, self.stationary_stop && traj.is_none());
        // Evaluations ahead in which no active lane is at a recorded epoch (0 forces a look).
        let mut quiet = 0u32;
        // The screen that ended a kernel's run of quiet epochs, not yet acted on.
        let mut ahead: Option<Screen<N>> = None;
        loop {
            let sc = match ahead.take() {
                Some(sc) => sc,
                None => kern.screen(&mut g, self, doom_at, &rule),
            };
            // (Lanes evaluated twice in one epoch — after a refill — see the same loss twice.)
            mins = fold_min(mins, sc.loss);
            // (A finished lane that was not refilled trains on idle and may decide anything.)
            let nobody_decides = sc
                .decide
                .0
                .iter()
                .zip(&lanes)
                .all(|(&d, st)| (d == 0.0 && !st.stationary) || !st.active);
            if quiet > 0 && traj.is_none() && nobody_decides {
                quiet -= 1;
                let watched = watch.before(&g);
                kern.train_epoch(&mut g, self, &mut lanes);
                if watched {
                    watch.after(&g, &mut lanes);
                }
                for st in lanes.iter_mut() {
                    st.epoch += 1;
                }
                // The quiet epochs that follow, up to the next watched one, in the kernel's own
                // loop where it has one: it stops at the first screen in which an active lane
                // decides (or at the budget) and hands that screen back, so the epochs it ran
                // are exactly the ones this loop would have run here.
                let budget = quiet.min(watch.unwatched_ahead());
                if budget > 0 && lanes.iter().all(|st| !st.active || !st.stationary) {
                    let active: [bool; N] = std::array::from_fn(|k| lanes[k].active);
                    if let Some((ran, sc)) = kern.quiet_epochs(&mut g, self, doom_at, &rule, budget, &mut mins, &active) {
                        #[cfg(test)]
                        QUIET_EPOCHS.with(|c| {
                            let (epochs, decided, full) = c.get();
                            let batch = (self.batch_size() > 1) as u64;
                            c.set((
                                epochs + ran as u64,
                                decided + sc.decides_any(&active) as u64,
                                full + batch * ran as u64,
                            ));
                        });
                        quiet -= ran;
                        watch.skip(ran);
                        for st in lanes.iter_mut() {
                            st.epoch += ran;
                        }
                        ahead = Some(sc);
                    }
                }
                continue;
            }
            let mut full = sc.full;
            let mut refilled = false;
            for k in 0..N {
                let st = &mut lanes[k];
                if !st.active || !st.needs_check {
                    continue;
                }
                st.needs_check = false;
                if traj.is_none() && st.epoch != 0 && st.epoch != max_epochs && st.epoch != e90 && sc.decide.0[k] == 0.0 && !st.stationary {
                    continue;
                }
                // Not `get_or_insert_with`: its closure is a function of its own, compiled
                // without the caller's target features (the evaluation then ran on SSE2 with
                // the C library's `fma`: 18 % of the time of batch-norm cells).
                if full.is_none() {
                    full = Some(g.evaluate(self, doom_at));
                }
                let Some(ev) = full.as_ref() else { unreachable!("set above") };
                let e = ev.lane(k, self.relu_units);
                // Every loss recorded or stored below is this one, its NaN canonical.
                let loss = canonical_nan(e.facts.loss);
                if st.epoch == 0 {
                    st.born_dead = e.dead_layer;
                    st.dead_units_init = e.dead_units;
                    st.live_units_init = e.live_units;
                    st.initial_loss = loss;
                }
                if st.epoch == e90 {
                    st.loss_90 = loss;
                }
                if let Some(t) = traj.as_deref_mut() {
                    t.losses.push(loss);
                    t.accuracies.push(e.accuracy);
                    t.dead_units.push(e.dead_units);
                    t.live_units.push(e.live_units);
                }
                // A stationary lane is now what it will be at max_epochs (see above).
                let at_max = st.epoch == max_epochs || st.stationary;
                if let Some((outcome, dead_cause)) = decide(&rule, &e.facts, at_max) {
                    if st.stationary && st.epoch < e90 {
                        st.loss_90 = loss;
                    }
                    #[cfg(test)]
                    if st.stationary && st.epoch < max_epochs {
                        STATIONARY_STOPS.with(|c| c.set(c.get() + 1));
                    }
                    let r = RunResult {
                        outcome,
                        epochs: if at_max { max_epochs } else { st.epoch },
                        dead_cause,
                        final_loss: loss,
                        min_loss: mins.0[k],
                        accuracy: e.accuracy,
                        born_dead: st.born_dead,
                        dead_units_init: st.dead_units_init,
                        dead_units_final: e.dead_units,
                        live_units_init: st.live_units_init,
                        live_units_final: e.live_units,
                        initial_loss: st.initial_loss,
                        loss_at_90pct: st.loss_90,
                        max_abs_param: canonical_nan(e.max_abs_param),
                    };
                    if let Some(t) = traj.as_deref_mut() {
                        t.final_params = g.export_params(self, k);
                    }
                    on_result(st.job, r);
                    if next < seeds.len() {
                        g.start_lane(self, k, seeds[next], st);
                        mins.0[k] = f64::INFINITY;
                        st.job = next;
                        next += 1;
                        refilled = true;
                    } else {
                        st.active = false;
                    }
                }
            }
            if refilled {
                quiet = 0; // the fresh lanes' epoch 0 is recorded at the next look
                continue; // evaluate the fresh lanes at their epoch 0 before training
            }
            if lanes.iter().all(|l| !l.active) {
                break;
            }
            let watched = watch.before(&g);
            kern.train_epoch(&mut g, self, &mut lanes);
            if watched {
                watch.after(&g, &mut lanes);
            }
            // The next evaluation is at epoch + 1 for every lane; the ones after it up to (not
            // including) the next recorded epoch of any active lane may skip the lane-by-lane look.
            quiet = u32::MAX;
            for st in lanes.iter_mut() {
                st.epoch += 1;
                if st.active {
                    st.needs_check = true;
                    for mark in [e90, max_epochs] {
                        if mark >= st.epoch {
                            quiet = quiet.min(mark - st.epoch);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Runs completed at a fixed point before max_epochs (on this thread), for the tests.
    pub(crate) static STATIONARY_STOPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Epochs trained in kernels' runs of quiet epochs, the runs that ended on a lane deciding,
    /// and the epochs of those runs that were full batches (on this thread), for the tests.
    pub(crate) static QUIET_EPOCHS: std::cell::Cell<(u64, u64, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// Finds the lanes that one epoch left unchanged, bit for bit (the scheduler's stationary
/// runs): once every [`Stationary::EVERY`] epochs it copies the state of every lane before the
/// epoch and compares after it. A run at a fixed point is found at most `EVERY` epochs after it
/// got there; the copy costs a fraction `1/EVERY` of an epoch's memory traffic. When the
/// schedule catches it does not matter for the result: the record is that of max_epochs.
struct Stationary<const N: usize> {
    on: bool,
    /// Velocities are part of the state (momentum ≠ 0).
    with_vel: bool,
    round: u32,
    params: Vec<Lanes<N>>,
    vel: Vec<Lanes<N>>,
}

impl<const N: usize> Stationary<N> {
    const EVERY: u32 = 32;

    fn new(t: &Trainer, g: &Group<N>, on: bool) -> Self {
        let with_vel = t.spec.momentum != 0.0;
        Stationary {
            on,
            with_vel,
            round: 0,
            params: if on { g.params.clone() } else { Vec::new() },
            vel: if on && with_vel { g.vel.clone() } else { Vec::new() },
        }
    }

    /// Copies the state if this epoch is watched; says whether it is.
    #[inline(always)]
    fn before(&mut self, g: &Group<N>) -> bool {
        if !self.on {
            return false;
        }
        self.round += 1;
        if self.round < Self::EVERY {
            return false;
        }
        self.round = 0;
        self.params.copy_from_slice(&g.params);
        if self.with_vel {
            self.vel.copy_from_slice(&g.vel);
        }
        true
    }

    /// How many epochs from now on [`Self::before`] will not watch.
    fn unwatched_ahead(&self) -> u32 {
        if self.on { Self::EVERY - 1 - self.round } else { u32::MAX }
    }

    /// Counts `epochs` unwatched epochs trained elsewhere (at most [`Self::unwatched_ahead`]).
    fn skip(&mut self, epochs: u32) {
        if self.on {
            debug_assert!(epochs <= self.unwatched_ahead());
            self.round += epochs;
        }
    }

    /// Marks the active lanes whose state the watched epoch left unchanged.
    #[inline(always)]
    fn after(&self, g: &Group<N>, lanes: &mut [LaneState; N]) {
        // Per lane, the OR of every value's bits XOR its copy's: zero exactly when nothing
        // changed (one vector pass over the state, no per-lane gathers).
        // (Not a closure: it would be compiled without the caller's target features.)
        #[inline(always)]
        #[allow(clippy::needless_range_loop)]
        fn fold<const N: usize>(diff: &mut [u64; N], now: &[Lanes<N>], was: &[Lanes<N>]) {
            for (a, b) in now.iter().zip(was) {
                for k in 0..N {
                    diff[k] |= a.0[k].to_bits() ^ b.0[k].to_bits();
                }
            }
        }
        let mut diff = [0u64; N];
        fold(&mut diff, &g.params, &self.params);
        if self.with_vel {
            fold(&mut diff, &g.vel, &self.vel);
        }
        for (st, d) in lanes.iter_mut().zip(diff) {
            if st.active && !st.stationary && d == 0 {
                st.stationary = true;
                st.needs_check = true;
            }
        }
    }
}

/// Where the scheduler hands each finished run: `(index into seeds, result)`. A trait object,
/// not a generic parameter, so that the kernels are compiled once rather than once per caller
/// (it is called once per run, not per epoch).
pub(crate) type OnResult<'a> = &'a mut dyn FnMut(usize, RunResult);

/// The numerical half of the lane scheduler: screening a group of lanes, and training it for
/// one epoch. [`Generic`] serves every network; `super::fused` holds faster specialisations for
/// common small shapes that perform the same operations in the same order (same bits).
pub(crate) trait Kernel<const N: usize> {
    fn new(t: &Trainer) -> Self;
    /// Evaluates every lane on the whole data set at the current parameters.
    fn screen(&mut self, g: &mut Group<N>, t: &Trainer, doom_at: f64, rule: &Criteria) -> Screen<N>;
    /// One epoch of training for every lane; directly follows a [`Kernel::screen`] with the
    /// parameters unchanged since (the scheduler's order), so its forward pass may be reused.
    fn train_epoch(&mut self, g: &mut Group<N>, t: &Trainer, lanes: &mut [LaneState; N]);
    /// Up to `budget` quiet epochs in one loop (see `super::fused`): returns the epochs trained
    /// and the screen that ended the loop, not folded into `mins`; `None` where the kernel has
    /// no such loop (the scheduler then runs them one by one).
    #[allow(clippy::too_many_arguments)]
    fn quiet_epochs(
        &mut self,
        _g: &mut Group<N>,
        _t: &Trainer,
        _doom_at: f64,
        _rule: &Criteria,
        _budget: u32,
        _mins: &mut Lanes<N>,
        _active: &[bool; N],
    ) -> Option<(u32, Screen<N>)> {
        None
    }
}

/// The running minimum of each lane's loss: a finite loss below the minimum replaces it.
#[inline(always)]
pub(super) fn fold_min<const N: usize>(mins: Lanes<N>, loss: Lanes<N>) -> Lanes<N> {
    mins.zip(loss, |m, l| if l.is_finite() && l < m { l } else { m })
}

/// What a kernel's screen found.
pub(crate) struct Screen<const N: usize> {
    /// Mean loss over the data set (the same bits as [`Eval::loss`]).
    pub loss: Lanes<N>,
    /// Non-zero exactly where [`decide`] ends the lane's run now (`at_max = false`), as
    /// [`Eval::decisions`].
    pub decide: Lanes<N>,
    /// The full evaluation, when the kernel computed one.
    pub full: Option<Eval<N>>,
}

impl<const N: usize> Screen<N> {
    /// Whether some `active` lane's run ends at this screen.
    #[inline(always)]
    pub(super) fn decides_any(&self, active: &[bool; N]) -> bool {
        self.decide.0.iter().zip(active).any(|(&d, &on)| on && d != 0.0)
    }
}

/// The kernels for every network shape, batch size, batch norm and optimiser.
pub(crate) struct Generic;

impl<const N: usize> Kernel<N> for Generic {
    fn new(_t: &Trainer) -> Self {
        Generic
    }
    #[inline(always)]
    fn screen(&mut self, g: &mut Group<N>, t: &Trainer, doom_at: f64, rule: &Criteria) -> Screen<N> {
        let ev = g.evaluate(t, doom_at);
        Screen {
            loss: ev.loss,
            decide: ev.decisions(rule),
            full: Some(ev),
        }
    }
    #[inline(always)]
    fn train_epoch(&mut self, g: &mut Group<N>, t: &Trainer, lanes: &mut [LaneState; N]) {
        g.train_epoch(t, lanes)
    }
}

/// Bookkeeping of one lane.
pub(crate) struct LaneState {
    active: bool,
    needs_check: bool,
    /// The last watched epoch left the state unchanged (see [`Stationary`]).
    stationary: bool,
    job: usize,
    epoch: u32,
    born_dead: bool,
    dead_units_init: u32,
    live_units_init: u32,
    initial_loss: f64,
    loss_90: f64,
    shuffle: Option<ChaCha8Rng>,
    perm: Vec<u32>,
}

impl LaneState {
    fn idle() -> Self {
        LaneState {
            active: false,
            needs_check: false,
            stationary: false,
            job: 0,
            epoch: 0,
            born_dead: false,
            dead_units_init: 0,
            live_units_init: 0,
            initial_loss: f64::NAN,
            loss_90: f64::NAN,
            shuffle: None,
            perm: Vec::new(),
        }
    }
}

/// The thresholds of the outcome rule for one cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Criteria {
    pub tol: f64,
    pub diverge_loss: f64,
    /// Death is permanent here (plain SGD, no mini-batch BN statistics): a dead run may stop.
    pub stop_when_dead: bool,
}

/// What the outcome rule looks at, for one lane at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Facts {
    /// Mean loss over the whole data set.
    pub loss: f64,
    pub all_correct: bool,
    pub params_finite: bool,
    /// Some ReLU layer inactive on every sample.
    pub dead_layer: bool,
    /// Too few live hidden units for the data (only ever set where the capacity rule applies:
    /// covered network, permanence, doom stopping on).
    pub doomed: bool,
}

/// The loss is in range: finite (NaN fails every comparison) and ≤ `diverge_loss`, which may
/// itself be +∞.
/// 1.0 in the lanes whose outputs `a` (one sample's, every output unit) predict class `label`:
/// with one output, class 1 when y ≥ 0.5; else the argmax, the first maximum on ties.
#[inline(always)]
pub(super) fn classified_correctly<const N: usize>(a: &[Lanes<N>], label: f64) -> Lanes<N> {
    let pred = if a.len() == 1 {
        a[0].zip(Lanes::splat(0.5), |y, h| flag(y >= h))
    } else {
        let mut best = a[0];
        let mut idx = Lanes::zero();
        for (k, &v) in a.iter().enumerate().skip(1) {
            let kk = Lanes::splat(k as f64);
            idx = (v - best).select_pos(kk, idx);
            best = (v - best).select_pos(v, best);
        }
        idx
    };
    pred.zip(Lanes::splat(label), |p, l| flag(p == l))
}

#[inline(always)]
pub(super) fn loss_in_range(loss: f64, diverge_loss: f64) -> bool {
    loss <= diverge_loss && loss < f64::INFINITY && loss > f64::NEG_INFINITY
}

#[inline(always)]
pub(super) fn low_loss(loss: f64, tol: f64) -> bool {
    loss <= tol
}

#[inline(always)]
pub(super) fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// THE outcome rule: how a run ends at this evaluation, if it does (`at_max`: this is epoch
/// max_epochs). In order: diverged (loss out of range or a parameter non-finite); converged
/// (loss ≤ tol and every sample correct); dead by a whole inactive ReLU layer (if death is
/// permanent, or at the end); dead by capacity (if doomed); stalled at the end.
/// [`Eval::decisions`] is its vectorised short-cut for `at_max = false` (checked equal by a
/// property test).
#[inline(always)]
pub(crate) fn decide(c: &Criteria, f: &Facts, at_max: bool) -> Option<(Outcome, Option<DeadCause>)> {
    if !loss_in_range(f.loss, c.diverge_loss) || !f.params_finite {
        Some((Outcome::Diverged, None))
    } else if low_loss(f.loss, c.tol) && f.all_correct {
        Some((Outcome::Converged, None))
    } else if f.dead_layer && (c.stop_when_dead || at_max) {
        Some((Outcome::Dead, Some(DeadCause::Layer)))
    } else if f.doomed {
        Some((Outcome::Dead, Some(DeadCause::Capacity)))
    } else if at_max {
        Some((Outcome::Stalled, None))
    } else {
        None
    }
}

/// Evaluation of every lane on the whole data set.
pub(crate) struct Eval<const N: usize> {
    pub loss: Lanes<N>,
    pub correct: Lanes<N>,
    /// Counts and flags as 0.0/1.0 per lane, so that they are computed as vectors.
    pub dead_units: Lanes<N>,
    pub dead_layer: Lanes<N>,
    /// 1.0 where the lane has fewer live hidden units than the capacity rule needs.
    pub doomed: Lanes<N>,
    pub max_abs: Lanes<N>,
    pub bad: Lanes<N>,
    pub n: f64,
}

pub(crate) struct LaneEval {
    pub facts: Facts,
    pub accuracy: f64,
    pub dead_units: u32,
    pub live_units: u32,
    pub dead_layer: bool,
    pub max_abs_param: f64,
}

impl<const N: usize> Eval<N> {
    /// 1.0 where [`decide`] ends the lane's run at this evaluation (`at_max = false`), as one
    /// vector computation from the same predicates. A short-cut: most epochs nobody decides.
    #[inline(always)]
    pub(crate) fn decisions(&self, c: &Criteria) -> Lanes<N> {
        let div = self
            .loss
            .zip(Lanes::splat(c.diverge_loss), |l, d| flag(!loss_in_range(l, d)))
            .max_of(self.bad.map(|b| flag(b != 0.0)));
        let n = Lanes::splat(self.n);
        let all_correct = self.correct.zip(n, |c, n| flag(c == n));
        let low = self.loss.zip(Lanes::splat(c.tol), |l, t| flag(low_loss(l, t)));
        let conv = low * all_correct;
        let dead = if c.stop_when_dead {
            self.dead_layer.map(|d| flag(d > 0.0))
        } else {
            Lanes::zero()
        };
        let doomed = self.doomed.map(|d| flag(d > 0.0));
        div.max_of(conv).max_of(dead).max_of(doomed)
    }

    pub(crate) fn lane(&self, k: usize, relu_units: u32) -> LaneEval {
        let dead_units = self.dead_units.0[k] as u32;
        LaneEval {
            facts: Facts {
                loss: self.loss.0[k],
                all_correct: self.correct.0[k] == self.n,
                params_finite: self.bad.0[k] == 0.0,
                dead_layer: self.dead_layer.0[k] > 0.0,
                doomed: self.doomed.0[k] > 0.0,
            },
            accuracy: self.correct.0[k] / self.n,
            dead_units,
            live_units: relu_units - dead_units,
            dead_layer: self.dead_layer.0[k] > 0.0,
            max_abs_param: self.max_abs.0[k],
        }
    }
}

/// Parameters, optimiser state and buffers of a group of `N` lanes.
pub(crate) struct Group<const N: usize> {
    pub(super) params: Vec<Lanes<N>>,
    vel: Vec<Lanes<N>>,
    /// Scratch for initialising one lane.
    scalar: Vec<f64>,
    /// Inputs / targets of the whole data set in data order (broadcast to all lanes).
    pub(super) xd: Vec<Lanes<N>>,
    pub(super) td: Vec<Lanes<N>>,
    /// Inputs / targets in this epoch's order, per lane.
    pub(super) xe: Vec<Lanes<N>>,
    pub(super) te: Vec<Lanes<N>>,
    train_buf: Buffers<N>,
    eval_buf: Buffers<N>,
    pub(super) labels: Vec<f64>,
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
        st.stationary = false;
        st.epoch = 0;
        st.born_dead = false;
        st.dead_units_init = 0;
        st.live_units_init = 0;
        st.initial_loss = f64::NAN;
        st.loss_90 = f64::NAN;
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
    fn evaluate(&mut self, t: &Trainer, doom_at: f64) -> Eval<N> {
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
            correct += classified_correctly(&a[s * out..(s + 1) * out], self.labels[s]);
        }
        loss = loss / Lanes::splat(n as f64);
        // Dead ReLU units and layers, as whole-vector operations: a unit is dead when its
        // pre-activation is ≤ 0 on every sample, i.e. its maximum over the samples is not > 0.
        let (one, zero) = (Lanes::splat(1.0), Lanes::zero());
        let mut dead_units = zero;
        let mut dead_layer = zero;
        let mut doomed = zero;
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
            if l == 0 {
                // Capacity doom counts the first (hidden) layer's live units; `doom_at` is 0
                // wherever the rule does not apply, and no count is below 0.
                doomed = alive_units.zip(Lanes::splat(doom_at), |a, d| flag(a < d));
            }
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
            doomed,
            max_abs,
            bad,
            n: n as f64,
        }
    }

    /// In shuffled order, draws this epoch's permutation for every lane and lays its inputs and
    /// targets out in `xe` / `te`; in fixed order `xe` / `te` stay the data in order.
    #[inline(always)]
    pub(super) fn shuffle_epoch(&mut self, t: &Trainer, lanes: &mut [LaneState; N]) {
        let s = &t.spec;
        let d = &s.dataset;
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
        self.shuffle_epoch(t, lanes);
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
