//! Every verdict of FINDINGS is chosen by the data: fixture tables in which one change of the
//! data flips the verdict.

use super::*;
use crate::config::Config;
use crate::params::PARAMS;

/// What a synthetic run did: converged at an epoch, or failed with a mechanism.
#[derive(Clone, Copy)]
enum R {
    Conv(u32),
    Stall,
    Dead,
}

/// An experiment from a config and a rule giving each (cell parameters, replicate) its run.
fn synth(src: &str, rule: impl Fn(&dyn Fn(&str) -> String, u32) -> R) -> Exp {
    let cfg = Config::parse("fixture.toml", src).expect("fixture config parses");
    let grid = Grid::build(&cfg).expect("fixture grid builds");
    let mut runs = Outcomes::empty(&grid);
    let seeds = grid.seeds as usize;
    for c in &grid.cells {
        let get = |name: &str| {
            let i = PARAMS.iter().position(|p| p.name == name).expect("known parameter");
            c.values[i].to_string()
        };
        for r in 0..grid.seeds {
            let i = c.index * seeds + r as usize;
            let (o, e, m) = match rule(&get, r) {
                R::Conv(e) => (Outcome::Converged, e, Outcomes::MISSING),
                R::Stall => (Outcome::Stalled, 1000, Mechanism::Plateau as u8),
                R::Dead => (Outcome::Dead, 0, Mechanism::BornDoomed as u8),
            };
            runs.code[i] = o as u8;
            runs.epochs[i] = e;
            runs.mech[i] = m;
        }
    }
    let n = grid.cells.len() * seeds;
    Exp::new("fixture".into(), grid, runs, vec![false; n], vec![false; n], vec![false; n])
}

fn conv_if(yes: bool) -> R {
    if yes { R::Conv(100) } else { R::Stall }
}

const LR: &str = r#"
name = "f-lr"
seeds = 100
[train]
max_epochs = 1000
[grid]
dataset = ["two", "three", "four"]
layout = ["sigmoid-sigmoid", "relu-sigmoid", "relu-relu"]
lr = [0.05, 0.15, 0.5, 0.9]
"#;

#[test]
fn claim1_relu_output_flips_with_the_data() {
    // relu-relu converges on 10 % of seeds, relu-sigmoid on 60 %: worse on every data set.
    let worse = synth(LR, |p, r| match p("layout").as_str() {
        "relu-relu" => conv_if(r < 10),
        _ => conv_if(r < 60),
    });
    assert_eq!(claim_relu_output(&worse).unwrap().verdict, Verdict::Supported);
    // Worse on one data set only.
    let one = synth(LR, |p, r| match (p("layout").as_str(), p("dataset").as_str()) {
        ("relu-relu", "four") => conv_if(r < 10),
        _ => conv_if(r < 60),
    });
    assert_eq!(claim_relu_output(&one).unwrap().verdict, Verdict::Partly);
    // The same on every seed.
    let same = synth(LR, |_, r| conv_if(r < 60));
    let c = claim_relu_output(&same).unwrap();
    assert_eq!(c.verdict, Verdict::NotSupported);
    assert!(c.conclusion.contains("on 0 of 3 data sets"), "{}", c.conclusion);
}

#[test]
fn claim2_learning_rate_flips_with_the_data() {
    let lr = |p: &dyn Fn(&str) -> String| p("lr").parse::<f64>().unwrap();
    // ReLU layouts converge at lr ≤ 0.15 only; sigmoid everywhere.
    let collapse = synth(LR, |p, r| {
        if p("layout").starts_with("relu") {
            conv_if(lr(p) <= 0.15 && r < 50)
        } else {
            conv_if(r < 50)
        }
    });
    let c = claim_learning_rate(&collapse).unwrap();
    assert_eq!(c.verdict, Verdict::Supported, "{}", c.conclusion);
    // ReLU drops but still converges sometimes.
    let drops = synth(LR, |p, r| {
        if p("layout").starts_with("relu") {
            conv_if(if lr(p) <= 0.15 { r < 60 } else { r < 20 })
        } else {
            conv_if(r < 50)
        }
    });
    assert_eq!(claim_learning_rate(&drops).unwrap().verdict, Verdict::Partly);
    // Sigmoid collapses too: the claim that sigmoid tolerates high rates fails.
    let all = synth(LR, |p, r| conv_if(lr(p) <= 0.15 && r < 50));
    assert_eq!(claim_learning_rate(&all).unwrap().verdict, Verdict::NotSupported);
}

#[test]
fn claim3_four_points_flips_with_the_data() {
    let never = synth(LR, |p, r| match p("layout").as_str() {
        "relu-sigmoid" => R::Dead,
        _ => conv_if(r < 50),
    });
    assert_eq!(claim_four_points(&never).unwrap().verdict, Verdict::Supported);
    let some = synth(LR, |p, r| match p("layout").as_str() {
        "relu-sigmoid" => conv_if(r < 20),
        _ => conv_if(r < 50),
    });
    assert_eq!(claim_four_points(&some).unwrap().verdict, Verdict::Partly);
    let same = synth(LR, |_, r| conv_if(r < 50));
    assert_eq!(claim_four_points(&same).unwrap().verdict, Verdict::NotSupported);
}

const ORDER: &str = r#"
name = "f-order"
seeds = 100
[train]
max_epochs = 1000
lr = 0.5
[grid]
dataset = ["four", "five"]
layout = ["sigmoid-sigmoid", "relu-sigmoid"]
init_order = ["neuron", "layer", "bias_first"]
sample_order = ["fixed", "shuffled"]
"#;

#[test]
fn claim4_init_order_flips_with_the_data() {
    // ReLU: the order decides which half of the seeds converge; sigmoid: identical.
    let relu_only = synth(ORDER, |p, r| {
        let relu = p("layout") == "relu-sigmoid";
        let shift = if relu && p("init_order") == "layer" { 1 } else { 0 };
        conv_if((r + shift) % 2 == 0)
    });
    let c = claim_init_order(&relu_only).unwrap();
    assert_eq!(c.verdict, Verdict::Supported, "{}", c.conclusion);
    // Sigmoid flips a few seeds too (not negligible), ReLU many.
    let both = synth(ORDER, |p, r| {
        let flip = match (p("layout").as_str(), p("init_order").as_str()) {
            ("relu-sigmoid", "layer") => true,
            ("sigmoid-sigmoid", "layer") => r % 10 == 0,
            _ => false,
        };
        conv_if(((r / 2) % 2 == 0) != (flip && r % 2 == 0))
    });
    assert_eq!(claim_init_order(&both).unwrap().verdict, Verdict::Partly);
    // Sigmoid flips as often as ReLU.
    let equal = synth(ORDER, |p, r| {
        let shift = if p("init_order") == "layer" { 1 } else { 0 };
        conv_if((r + shift) % 2 == 0)
    });
    let c = claim_init_order(&equal).unwrap();
    assert_eq!(c.verdict, Verdict::NotSupported);
    assert!(c.conclusion.contains("no significant difference"), "{}", c.conclusion);
}

#[test]
fn claim5_shuffle_flips_with_the_data() {
    let faster = synth(ORDER, |p, r| {
        if r >= 80 {
            R::Stall
        } else if p("sample_order") == "shuffled" {
            R::Conv(100 + r)
        } else {
            R::Conv(300 + r)
        }
    });
    assert_eq!(claim_shuffle(&faster).unwrap().verdict, Verdict::Supported);
    let one = synth(ORDER, |p, r| {
        if r >= 80 {
            R::Stall
        } else if p("sample_order") == "shuffled" && p("layout") == "relu-sigmoid" {
            R::Conv(100 + r)
        } else {
            R::Conv(300 + r)
        }
    });
    assert_eq!(claim_shuffle(&one).unwrap().verdict, Verdict::Partly);
    let same = synth(ORDER, |_, r| if r >= 80 { R::Stall } else { R::Conv(300 + r) });
    assert_eq!(claim_shuffle(&same).unwrap().verdict, Verdict::NotSupported);
    // Censoring: fixed never reaches half within the budget → a lower bound, not a median.
    let censored = synth(ORDER, |p, r| match p("sample_order").as_str() {
        "shuffled" => R::Conv(100 + r),
        _ if r < 10 => R::Conv(900),
        _ => R::Stall,
    });
    let c = claim_shuffle(&censored).unwrap();
    assert_eq!(c.verdict, Verdict::Supported);
    assert!(c.conclusion.contains("> "), "{}", c.conclusion);
}

const DIST: &str = r#"
name = "f-dist"
seeds = 100
[train]
max_epochs = 1000
layout = "relu-sigmoid"
[grid]
dataset = ["three", "four", "five"]
init_dist = ["uniform(-1,1)", "normal(0,0.57735)", "normal(0,1)", "he_uniform", "he_normal"]
lr = [0.15, 0.5]
"#;

#[test]
fn claim6_gaussian_flips_with_the_data() {
    let normal_wins = synth(DIST, |p, r| conv_if(r < if p("init_dist").contains("normal") { 60 } else { 30 }));
    assert_eq!(claim_gaussian(&normal_wins).unwrap().verdict, Verdict::Supported);
    // Only the scale matters: He's scale wins, the shape does nothing.
    let scale = synth(DIST, |p, r| conv_if(r < if p("init_dist").starts_with("he") { 60 } else { 30 }));
    let c = claim_gaussian(&scale).unwrap();
    assert_eq!(c.verdict, Verdict::NotSupported);
    assert!(
        c.conclusion
            .contains("scale alone: he_uniform vs uniform(-1,1) +30.0 points (Holm p"),
        "{}",
        c.conclusion
    );
    let one = synth(DIST, |p, r| conv_if(r < if p("init_dist") == "he_normal" { 60 } else { 30 }));
    assert_eq!(claim_gaussian(&one).unwrap().verdict, Verdict::Partly);
}

const DEEP: &str = r#"
name = "f-deep"
seeds = 100
[train]
max_epochs = 1000
[grid]
dataset = ["four", "five"]
layout = ["relu-sigmoid", "relu-sigmoid-sigmoid", "sigmoid-sigmoid"]
lr = [0.15, 0.5]
"#;

#[test]
fn claim7_deep_flips_with_the_data() {
    let fixes = synth(DEEP, |p, r| conv_if(p("layout") == "relu-sigmoid-sigmoid" || r < 10));
    assert_eq!(claim_deep(&fixes).unwrap().verdict, Verdict::Supported);
    let helps = synth(DEEP, |p, r| {
        conv_if(r < if p("layout") == "relu-sigmoid-sigmoid" { 50 } else { 10 })
    });
    assert_eq!(claim_deep(&helps).unwrap().verdict, Verdict::Partly);
    let same = synth(DEEP, |_, r| conv_if(r < 10));
    assert_eq!(claim_deep(&same).unwrap().verdict, Verdict::NotSupported);
}

const BN: &str = r#"
name = "f-bn"
seeds = 100
[train]
dataset = "five"
batch = "full"
max_epochs = 20000
[grid]
layout = ["relu-sigmoid-sigmoid", "sigmoid-sigmoid-sigmoid", "relu-sigmoid", "sigmoid-sigmoid"]
batch_norm = [false, true]
lr = [0.5, 0.9]
"#;

#[test]
fn claims8_9_batch_norm_flip_with_the_data() {
    // Sigmoid: 150× sooner with BN; ReLU never converges.
    let strong = synth(BN, |p, r| {
        let bn = p("batch_norm") == "true";
        match (p("layout").starts_with("relu"), bn) {
            (true, _) => R::Stall,
            (false, true) => R::Conv(100 + r),
            (false, false) => R::Conv(15_000 + r),
        }
    });
    let (c8, c9) = claim_batch_norm(&strong).unwrap();
    assert_eq!(c8.verdict, Verdict::Supported, "{}", c8.conclusion);
    assert_eq!(c9.verdict, Verdict::Supported, "{}", c9.conclusion);
    // Censored without BN: fewer than half converge within 20 000 epochs → "> 200.0×".
    let censored = synth(BN, |p, r| match (p("layout").starts_with("relu"), p("batch_norm") == "true") {
        (true, true) => conv_if(r < 30),
        (true, false) => R::Stall,
        (false, true) => R::Conv(100),
        (false, false) => {
            if r < 20 {
                R::Conv(19_000)
            } else {
                R::Stall
            }
        }
    });
    let (c8, c9) = claim_batch_norm(&censored).unwrap();
    assert_eq!(c8.verdict, Verdict::Supported);
    assert!(c8.conclusion.contains("> 200.0×"), "{}", c8.conclusion);
    assert_eq!(c9.verdict, Verdict::Partly, "{}", c9.conclusion);
    // Only 3× sooner, and ReLU with BN converges almost always.
    let weak = synth(BN, |p, r| match (p("layout").starts_with("relu"), p("batch_norm") == "true") {
        (true, true) => conv_if(r < 95),
        (true, false) => R::Stall,
        (false, true) => R::Conv(1000 + r),
        (false, false) => R::Conv(3000 + 3 * r),
    });
    let (c8, c9) = claim_batch_norm(&weak).unwrap();
    assert_eq!(c8.verdict, Verdict::Partly, "{}", c8.conclusion);
    assert_eq!(c9.verdict, Verdict::NotSupported);
    let none = synth(BN, |_, r| R::Conv(1000 + r));
    assert_eq!(claim_batch_norm(&none).unwrap().0.verdict, Verdict::NotSupported);
}

#[test]
fn readme_block_round_trips() {
    let readme = format!("# x\n\nintro\n{README_BEGIN}\nold\n{README_END}\n\nrest\n");
    let new = splice_readme(&readme, "* new line\n").unwrap();
    assert_eq!(readme_block(&new), Some("* new line\n"));
    assert!(new.ends_with(&format!("{README_END}\n\nrest\n")));
    assert!(splice_readme("no markers", "x").is_err());
    let doc = "# F\n\n## Summary\n\n* a\n* b\n\n## 1. first\n";
    assert_eq!(findings_summary(doc), Some("* a\n* b\n"));
}

/// The README's findings block is the summary of FINDINGS.md, word for word.
#[test]
fn readme_and_findings_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let findings = std::fs::read_to_string(root.join("FINDINGS.md")).unwrap();
    let (Some(a), Some(b)) = (readme_block(&readme), findings_summary(&findings)) else {
        panic!("README.md needs the findings markers and FINDINGS.md a Summary section: run scripts/article.sh");
    };
    assert_eq!(
        a, b,
        "README.md's findings block differs from FINDINGS.md's summary: run scripts/article.sh (or `initgrid findings --readme README.md`)"
    );
}
