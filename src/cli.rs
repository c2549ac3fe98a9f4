//! Command-line declarations only (clap derive). Validation and behaviour live in `commands`;
//! nothing below `commands` sees clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Seeded grids of tiny-network trainings, with statistics instead of anecdotes.
///
/// Run a grid:  initgrid --config configs/grid.toml
/// Then ask:    initgrid summary results/<name> --by layout,lr
#[derive(Debug, Parser)]
#[command(name = "initgrid", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The grid config (TOML).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output directory [default: results/<name>].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads [default: RAYON_NUM_THREADS or all cores].
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the cells, the number of runs and an estimated time; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only shard K of N (0 ≤ K < N); `auto/N` reads SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Discard earlier results in the output directory and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Also print the wall time of each phase (training, tables, report).
    #[arg(short, long)]
    pub verbose: bool,
    /// Overrides of the config: `lr=0.5`, `seeds=200`, `dataset=four`; a list `lr=0.1,0.5`
    /// makes a grid axis (values are written as in TOML).
    #[arg(value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rates with 95 % intervals and n per group: "how often does ReLU diverge here?"
    Summary(SummaryArgs),
    /// Paired comparison of the levels of one factor on shared seeds (McNemar).
    Compare(CompareArgs),
    /// Retrain one run, verify it bit for bit against the stored row, show its trajectory.
    Replay(ReplayArgs),
    /// Rebuild report.html (and optionally FINDINGS-style markdown) from a results directory.
    Report(ReportArgs),
    /// Merge shard directories into one result, checking that none is missing or duplicated.
    Merge(MergeArgs),
    /// Generate FINDINGS.md from the article's result directories (configs/article/*.toml).
    Findings(FindingsArgs),
    /// Ask one question with no config file: train seeds until every cell's anytime-valid 95 %
    /// interval is within ±PRECISION (e.g. `initgrid ask dataset=four layout=relu-relu lr=0.9`).
    Ask(AskArgs),
    /// Benchmark the reference workload (four points, relu-sigmoid 1-4-2, 2000 epochs).
    Bench(BenchArgs),
    /// Audit a results directory: checksums, every run present once, tables recomputed from
    /// runs, and a sample of runs retrained bit for bit. Exit 0 only if all holds.
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

/// Which runs and which outcome: shared by `summary` and `compare`.
#[derive(Debug, Args)]
pub struct Selection {
    /// Keep only runs with these parameter values, e.g. --where layout=relu-sigmoid,lr=0.5
    /// (values are parsed as in the config: lr=0.50 matches 0.5).
    #[arg(long = "where", value_delimiter = ',', value_name = "K=V")]
    pub filter: Vec<String>,
    /// Outcome whose rate to report (`failed` = not converged).
    #[arg(long, default_value = "converged")]
    pub outcome: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Rates and tests exactly as if max_epochs had been N: runs not decided by epoch N count
    /// as stalled. N must not exceed a selected cell's max_epochs.
    #[arg(long, value_name = "N")]
    pub at_epoch: Option<u32>,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Results directory.
    pub dir: PathBuf,
    /// Group by these parameters (comma-separated) [default: the varied ones].
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    #[command(flatten)]
    pub sel: Selection,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Results directory.
    pub dir: PathBuf,
    /// The factor whose levels are compared (e.g. init_order).
    #[arg(long)]
    pub factor: String,
    #[command(flatten)]
    pub sel: Selection,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    pub dir: PathBuf,
    /// The run_id from runs.parquet (`<cell_id>-<replicate>`).
    #[arg(long)]
    pub run: String,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Epochs to print in the table (evenly spaced; the JSON has all).
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    pub dir: PathBuf,
    /// Also write the findings document (markdown) to this path.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output directory of the merged result.
    pub out: PathBuf,
    /// Shard directories (or one directory holding all shards' parts).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The parameters of the question, `KEY=VALUE` as in the config (defaults for the rest;
    /// `dataset`, `layout` and `lr` are required); a list `lr=0.5,0.9` makes one cell per value.
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Outcome whose rate must be precise (`failed` = not converged).
    #[arg(long, default_value = "converged")]
    pub outcome: String,
    /// Stop when every cell's 95 % confidence sequence is within ± this of its rate.
    #[arg(long, default_value_t = 0.01)]
    pub precision: f64,
    /// Stop at this many seeds per cell even if not yet precise.
    #[arg(long, default_value_t = 10_000)]
    pub max_seeds: u32,
    /// Seeds per cell in the first batch; each further batch doubles the total.
    #[arg(long, default_value_t = 100)]
    pub first_seeds: u32,
    /// One JSON object per cell on stdout.
    #[arg(long)]
    pub json: bool,
    /// Results directory [default: results/ask-<hash of the question>].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads [default: RAYON_NUM_THREADS or all cores].
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Results directory.
    pub dir: PathBuf,
    /// Runs to retrain and compare bit for bit (a fixed choice per directory; 0 = none).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub sample: usize,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 10_000)]
    pub replicates: u32,
    #[arg(long, default_value_t = 2000)]
    pub epochs: u32,
    /// Threads [default: all]; `--threads 1` for the single-core figure.
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use the portable (SSE2) kernel instead of the widest the CPU has.
    #[arg(long)]
    pub baseline: bool,
    /// Repeat the timing N times, the thread counts' order alternating between rounds; the
    /// summary gives each median and range, and the scaling as the median of the per-round
    /// ratios [default: 5; 1 with --json, which prints one line per run].
    #[arg(long, value_name = "N")]
    pub rounds: Option<u32>,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Directory holding the article-* result directories.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Output markdown file.
    #[arg(long, default_value = "FINDINGS.md")]
    pub out: PathBuf,
    /// Also write the summary between the findings markers of this README.
    #[arg(long, value_name = "FILE")]
    pub readme: Option<PathBuf>,
}
