//! Validation against exact answers (FINDINGS.md, "Validation"): the measured rates must contain
//! the derived values within their 95 % intervals. Sized to run in seconds.

use initgrid::analysis::findings::born_dead_exact;
use initgrid::analysis::stats::{CONFIDENCE, wilson};
use initgrid::core::seed::replicate_seed;
use initgrid::core::{Batch, Dataset, Outcome, TrainSpec, Trainer};

fn trainer(data: &str, hidden: u32, dist: &str, bias: &str, bn: bool, epochs: u32) -> Trainer {
    let mut s = TrainSpec::new(Dataset::preset(data).unwrap(), "relu-sigmoid".parse().unwrap(), 0.5);
    s.hidden = hidden;
    s.init_dist = dist.parse().unwrap();
    s.bias_init = bias.parse().unwrap();
    s.batch_norm = bn;
    s.batch = Batch::Full;
    s.max_epochs = epochs;
    Trainer::new(s).unwrap()
}

fn seeds(n: u32) -> Vec<u64> {
    (0..n).map(|r| replicate_seed(4242, r)).collect()
}

/// (a) P(born dead) = (1/2)^H with zero bias, (3/8)^H with i.i.d. symmetric bias — for any
/// symmetric distribution (uniform, normal, He): the exact value lies in the Wilson interval.
#[test]
fn born_dead_probability_matches_the_derivation() {
    let n = 3000;
    let mut outside = 0;
    for dist in ["uniform(-1,1)", "normal(0,1)", "he_uniform"] {
        for (bias, zero) in [("zeros", true), ("same", false)] {
            for h in 1..=3 {
                let t = trainer("four", h, dist, bias, false, 1);
                let mut k = 0u64;
                t.run_many(&seeds(n), |_, r| k += r.born_dead as u64);
                let ci = wilson(k, n as u64, CONFIDENCE);
                let exact = born_dead_exact(h, zero);
                if !(ci.lo <= exact && exact <= ci.hi) {
                    outside += 1;
                    eprintln!("{dist} {bias} H={h}: {k}/{n} [{:.4}, {:.4}] vs exact {exact:.4}", ci.lo, ci.hi);
                }
            }
        }
    }
    // 18 intervals at 95 %: by chance at most a couple miss; a wrong law misses nearly all.
    assert!(outside <= 2, "{outside} of 18 exact values outside their intervals");
}

/// (b) Below the expressivity floor (H + 1 < label alternations) no run converges:
/// H = 1 on `four` (3 alternations), H = 2 on `five` (4 alternations).
#[test]
fn below_the_expressivity_floor_nothing_converges() {
    for (data, h) in [("four", 1), ("five", 2)] {
        let mut s = TrainSpec::new(Dataset::preset(data).unwrap(), "relu-sigmoid".parse().unwrap(), 0.5);
        s.hidden = h;
        s.max_epochs = 400;
        let t = Trainer::new(s).unwrap();
        let mut conv = 0;
        let mut acc_max: f64 = 0.0;
        t.run_many(&seeds(300), |_, r| {
            conv += (r.outcome == Outcome::Converged) as u32;
            acc_max = acc_max.max(r.accuracy);
        });
        assert_eq!(conv, 0, "{data} H={h}");
        assert!(acc_max < 1.0, "{data} H={h} classified everything once");
    }
}

/// (c) Batch norm before the ReLU makes born-dead impossible.
#[test]
fn batch_norm_makes_born_dead_impossible() {
    for dist in ["uniform(-1,1)", "he_normal"] {
        for h in [1, 2] {
            let t = trainer("five", h, dist, "zeros", true, 1);
            let mut k = 0;
            t.run_many(&seeds(2000), |_, r| k += r.born_dead as u32);
            assert_eq!(k, 0, "{dist} H={h}");
        }
    }
    // …whereas without batch norm the same seeds are born dead often.
    let t = trainer("five", 1, "uniform(-1,1)", "zeros", false, 1);
    let mut k = 0;
    t.run_many(&seeds(2000), |_, r| k += r.born_dead as u32);
    assert!(k > 800, "{k}");
}
