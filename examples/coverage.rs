//! Coverage of the anytime-valid confidence sequence (`initgrid::analysis::confseq`) against a naive
//! rule (plain Wilson recomputed at every look), when sampling stops as soon as the interval
//! lies within ±P of the estimate.
//!
//! ```text
//! cargo run --release --example coverage            # 4 000 streams per setting
//! cargo run --release --example coverage -- 20000   # more streams
//! ```
//!
//! Prints one row per setting: the looks (`batches` = n = 100, 200, 400, … as `initgrid ask`
//! trains; `every` = after every seed from n = 10), the true p, the precision P, and for each
//! rule the mean n at stopping and the coverage of p at stopping. The Monte-Carlo standard error
//! of a coverage near 95 % is printed in the header.

use initgrid::analysis::confseq::{CoverageSetting, Looks, simulate_coverage};
use initgrid::analysis::stats::CONFIDENCE;

fn main() {
    let streams: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("the argument is the number of streams"))
        .unwrap_or(4000);
    let batches = Looks::Geometric { first: 100, ratio: 2.0 };
    let every = Looks::EverySeed { min_n: 10 };
    let mut settings = vec![];
    for (looks, name) in [(batches, "batches"), (every, "every")] {
        for precision in [0.05, 0.02] {
            for p in [0.01, 0.1, 0.3, 0.5] {
                settings.push((name, looks, p, precision));
            }
        }
    }
    // Continuous-monitoring settings where the naive rule's stopping time depends most on p̂.
    for (p, precision) in [(0.05, 0.03), (0.2, 0.1), (0.25, 0.2)] {
        settings.push(("every", every, p, precision));
    }
    let se = (CONFIDENCE * (1.0 - CONFIDENCE) / streams as f64).sqrt();
    println!("{streams} streams per setting; Monte-Carlo s.e. of a 95 % coverage: {se:.4}");
    println!(
        "{:<8} {:>5} {:>5} | {:>8} {:>8} {:>7} | {:>8} {:>8} {:>7}",
        "looks", "p", "P", "CS n", "CS cov", "CS max", "naive n", "nv cov", "nv max"
    );
    for (i, (name, looks, p, precision)) in settings.into_iter().enumerate() {
        let r = simulate_coverage(&CoverageSetting {
            p,
            precision,
            looks,
            max_n: 102_400,
            streams,
            seed: 1_000_000 * i as u64,
            confidence: CONFIDENCE,
        });
        println!(
            "{:<8} {:>5} {:>5} | {:>8.0} {:>8.4} {:>7.3} | {:>8.0} {:>8.4} {:>7.3}",
            name, p, precision, r.cs.mean_n, r.cs.coverage, r.cs.at_max, r.naive.mean_n, r.naive.coverage, r.naive.at_max
        );
    }
}
