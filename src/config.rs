//! The TOML config: one parameter namespace, typed and validated once.
//!
//! ```toml
//! name = "article"      # results/<name>/
//! seeds = 500           # replicates per cell
//! base_seed = 2016
//! paired_seeds = true  # replicate r has the same seed in every cell (default); false: independent cells
//! [train]               # fixed values for any parameter
//! dataset = "four"
//! [grid]                # lists of values for the parameters that vary
//! layout = ["sigmoid-sigmoid", "relu-sigmoid"]
//! lr = [0.05, 0.5]
//! [[exclude]]           # drop combinations
//! batch_norm = true
//! batch = "online"
//! [datasets.mine]       # inline data: [x₁, …, x_d, label]
//! points = [[0.0, 0], [0.5, 1]]
//! ```
//!
//! or, instead of `seeds`, seeds chosen per cell by an anytime-valid stopping rule:
//!
//! ```toml
//! [adaptive]
//! precision = 0.02      # stop a cell when its 95 % confidence sequence is within ±0.02
//! max_seeds = 6400      # … or at this many seeds
//! min_seeds = 100       # first stage (then doubling); default min(100, max_seeds)
//! outcome = "converged" # the rate to pin down: converged, diverged, dead, stalled, failed
//! ```
//!
//! Every error names the key, the line in the file and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::core::Dataset;
use crate::core::data::PRESETS;
use crate::params::{Datasets, PARAMS, ParamDef, Value, closest, de_float, de_int, param_index, type_name, with_literal};

/// A config problem: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigError {
    pub file: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub at: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((l, c)) = self.at {
            write!(f, ":{l}:{c}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for crate::error::Error {
    fn from(e: ConfigError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// A parsed, validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub file: String,
    pub source: String,
    pub name: String,
    pub seeds: u32,
    pub base_seed: u64,
    /// Common random numbers: replicate r has the same seed in every cell (the default, which
    /// paired comparisons need); `false` gives every cell its own independent seeds.
    pub paired_seeds: bool,
    /// `[adaptive]`: seeds per cell chosen by a stopping rule (`seeds` is then `max_seeds`).
    pub adaptive: Option<Adaptive>,
    /// Every parameter's fixed value (`[train]` or default), `None` for varied ones.
    pub fixed: Vec<Option<Value>>,
    /// Varied parameters with their levels, in the order of the `[grid]` table.
    pub axes: Vec<(usize, Vec<Value>)>,
    /// `[[exclude]]` rules: a combination is dropped when it matches every pair of a rule.
    pub excludes: Vec<Vec<(usize, Value)>>,
    pub datasets: Datasets,
    /// Command-line overrides applied on top of the file (`key=value`, `key=a,b` for an axis),
    /// in the order given ([`Config::with_overrides`]).
    pub overrides: Vec<String>,
}

/// The `[adaptive]` table: every cell trains seeds in stages (min_seeds, then doubling, up to
/// max_seeds) and stops as soon as its anytime-valid 95 % confidence sequence for `outcome`
/// is within ±precision of its rate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adaptive {
    pub precision: f64,
    pub min_seeds: u32,
    pub max_seeds: u32,
    /// converged, diverged, dead, stalled or failed (= not converged).
    pub outcome: String,
}

const ADAPTIVE_KEYS: [&str; 4] = ["precision", "max_seeds", "min_seeds", "outcome"];
const ADAPTIVE_OUTCOMES: [&str; 5] = ["converged", "diverged", "dead", "stalled", "failed"];
const ADAPTIVE_EXAMPLE: &str = "[adaptive]\nprecision = 0.02\nmax_seeds = 6400";

impl Adaptive {
    /// Parses and checks the `[adaptive]` table.
    fn parse(ctx: &Ctx, span: &Range<usize>, v: &DeValue) -> Result<Adaptive, ConfigError> {
        let DeValue::Table(t) = v else {
            return Err(ctx.err(
                Some(span),
                "adaptive",
                format!("expected a table, found {}", type_name(v)),
                ADAPTIVE_EXAMPLE,
            ));
        };
        for (k, _) in t.iter() {
            if !ADAPTIVE_KEYS.contains(&k.get_ref().as_ref()) {
                return Err(unknown_key(ctx, &k.span(), "adaptive", k.get_ref(), &ADAPTIVE_KEYS));
            }
        }
        let get = |name: &str| t.iter().find(|(k, _)| k.get_ref().as_ref() == name).map(|(_, v)| v);
        let int = |name: &str, example: &str| -> Result<Option<u32>, ConfigError> {
            let Some(v) = get(name) else { return Ok(None) };
            match de_int(v.get_ref()) {
                Some(x) if x >= 1 && x <= u32::MAX as i128 => Ok(Some(x as u32)),
                Some(x) => Err(ctx.err(
                    Some(&v.span()),
                    &format!("adaptive.{name}"),
                    format!("{name} = {x}: need at least 1"),
                    example,
                )),
                None => Err(ctx.err(
                    Some(&v.span()),
                    &format!("adaptive.{name}"),
                    format!("expected an integer, found {}", type_name(v.get_ref())),
                    example,
                )),
            }
        };
        let precision = match get("precision") {
            None => {
                return Err(ctx.err(
                    Some(span),
                    "adaptive.precision",
                    "missing `precision`",
                    "precision = 0.02 (stop at ±2 points)",
                ));
            }
            Some(v) => match de_float(v.get_ref()) {
                Some(p) if p > 0.0 && p < 0.5 => p,
                Some(p) => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "adaptive.precision",
                        format!("precision = {p}: the half-width must be between 0 and 0.5"),
                        "precision = 0.02 (stop at ±2 points)",
                    ));
                }
                None => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "adaptive.precision",
                        format!("expected a number, found {}", type_name(v.get_ref())),
                        "precision = 0.02",
                    ));
                }
            },
        };
        let Some(max_seeds) = int("max_seeds", "max_seeds = 6400")? else {
            return Err(ctx.err(
                Some(span),
                "adaptive.max_seeds",
                "missing `max_seeds`",
                "max_seeds = 6400 (the most seeds any cell trains)",
            ));
        };
        let min_seeds = int("min_seeds", "min_seeds = 100")?.unwrap_or(max_seeds.min(100));
        if min_seeds > max_seeds {
            let v = get("min_seeds").expect("given: the default never exceeds max_seeds");
            return Err(ctx.err(
                Some(&v.span()),
                "adaptive.min_seeds",
                format!("min_seeds = {min_seeds} exceeds max_seeds = {max_seeds}"),
                "make min_seeds ≤ max_seeds",
            ));
        }
        let outcome = match get("outcome") {
            None => "converged".to_string(),
            Some(v) => match v.get_ref() {
                DeValue::String(o) if ADAPTIVE_OUTCOMES.contains(&o.as_ref()) => o.to_string(),
                other => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "adaptive.outcome",
                        format!("expected one of {}, found {}", ADAPTIVE_OUTCOMES.join(", "), show(other)),
                        "outcome = \"converged\"",
                    ));
                }
            },
        };
        Ok(Adaptive {
            precision,
            min_seeds,
            max_seeds,
            outcome,
        })
    }
}

fn show(v: &DeValue) -> String {
    match v {
        DeValue::String(s) => format!("\"{s}\""),
        other => type_name(other).to_string(),
    }
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn pos(&self, span: &Range<usize>) -> (usize, usize) {
        let before = &self.src[..span.start.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, col)
    }
    fn err(&self, span: Option<&Range<usize>>, key: &str, message: impl Into<String>, fix: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            at: span.map(|s| self.pos(s)),
            key: key.to_string(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

fn unknown_key(ctx: &Ctx, span: &Range<usize>, section: &str, key: &str, valid: &[&str]) -> ConfigError {
    let full = if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    };
    let fix = match closest(key, valid.iter().copied()) {
        Some(c) => format!("did you mean `{c}`? valid keys here: {}", valid.join(", ")),
        None => format!("valid keys here: {}", valid.join(", ")),
    };
    ctx.err(Some(span), &full, format!("unknown key `{key}`"), fix)
}

const TOP_KEYS: [&str; 9] = [
    "name",
    "seeds",
    "base_seed",
    "paired_seeds",
    "adaptive",
    "train",
    "grid",
    "exclude",
    "datasets",
];

impl Config {
    /// Reads and validates a config file.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            at: None,
            key: String::new(),
            message: format!("cannot read the config: {e}"),
            fix: "check the path given to --config".into(),
        })?;
        Config::parse(&file, &src)
    }

    /// Parses and validates config text; `file` is only used in messages.
    pub(crate) fn parse(file: &str, src: &str) -> Result<Config, ConfigError> {
        let cfg = Config::parse_partial(file, src)?;
        cfg.require(|p| format!("add {} = {} under [train], or a list under [grid]", p.name, p.example))?;
        Ok(cfg)
    }

    /// [`Config::parse`] without the check that every required parameter is given (they are
    /// left `None`): for a config that command-line overrides complete (`initgrid ask`).
    pub(crate) fn parse_partial(file: &str, src: &str) -> Result<Config, ConfigError> {
        let ctx = Ctx { file, src };
        let root = DeTable::parse(src).map_err(|e| {
            let span = e.span();
            let msg = e.message().trim().to_string();
            ctx.err(
                span.as_ref(),
                "",
                format!("malformed TOML: {msg}"),
                "fix the TOML syntax at this position",
            )
        })?;
        let root = root.get_ref();
        let mut entries: Vec<_> = root.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (k, _) in &entries {
            if !TOP_KEYS.contains(&k.get_ref().as_ref()) {
                return Err(unknown_key(&ctx, &k.span(), "", k.get_ref(), &TOP_KEYS));
            }
        }
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == name)
                .map(|(k, v)| (k.span(), *v))
        };

        let name = match get("name") {
            Some((_, v)) => match v.get_ref() {
                DeValue::String(s) if valid_name(s) => s.to_string(),
                DeValue::String(s) => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "name",
                        format!("name `{s}` is not usable as a directory name"),
                        "use letters, digits, '-', '_' and '.' only",
                    ));
                }
                other => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "name",
                        format!("expected a string, found {}", type_name(other)),
                        "name = \"my-grid\"",
                    ));
                }
            },
            None => {
                return Err(ctx.err(
                    None,
                    "name",
                    "missing `name`",
                    "add name = \"my-grid\" at the top (results go to results/<name>/)",
                ));
            }
        };
        let adaptive = match get("adaptive") {
            Some((k, v)) => Some(Adaptive::parse(&ctx, &k, v.get_ref())?),
            None => None,
        };
        let seeds = match (get("seeds"), &adaptive) {
            (Some((_, v)), Some(_)) => {
                return Err(ctx.err(
                    Some(&v.span()),
                    "seeds",
                    "`seeds` and [adaptive] both choose the seeds per cell",
                    "remove `seeds`: [adaptive] max_seeds bounds them (or remove [adaptive] for a fixed count)",
                ));
            }
            (None, Some(a)) => a.max_seeds,
            (Some((_, v)), None) => match de_int(v.get_ref()) {
                Some(s) if s >= 1 && s <= u32::MAX as i128 => s as u32,
                Some(s) => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "seeds",
                        format!("seeds = {s}: need at least one replicate per cell"),
                        "seeds = 500 (≈ ±4 points on a 50 % rate)",
                    ));
                }
                None => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "seeds",
                        format!("expected an integer, found {}", type_name(v.get_ref())),
                        "seeds = 500",
                    ));
                }
            },
            (None, None) => {
                return Err(ctx.err(
                    None,
                    "seeds",
                    "missing `seeds`",
                    "add seeds = 500 (replicates per cell) at the top, or an [adaptive] table",
                ));
            }
        };
        let base_seed = match get("base_seed") {
            Some((_, v)) => match de_int(v.get_ref()) {
                Some(s) if s >= 0 && s <= u64::MAX as i128 => s as u64,
                _ => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "base_seed",
                        format!("expected a non-negative integer, found {}", type_name(v.get_ref())),
                        "base_seed = 2016",
                    ));
                }
            },
            None => 0,
        };
        let paired_seeds = match get("paired_seeds") {
            Some((_, v)) => match v.get_ref() {
                DeValue::Boolean(b) => *b,
                other => {
                    return Err(ctx.err(
                        Some(&v.span()),
                        "paired_seeds",
                        format!("expected true or false, found {}", type_name(other)),
                        "paired_seeds = false (every cell draws independent seeds; no paired comparisons)",
                    ));
                }
            },
            None => true,
        };

        // Inline data sets first: parameters may refer to them.
        let mut datasets = BTreeMap::new();
        if let Some((_, v)) = get("datasets") {
            let DeValue::Table(t) = v.get_ref() else {
                return Err(ctx.err(
                    Some(&v.span()),
                    "datasets",
                    "expected tables [datasets.NAME]",
                    "[datasets.mine]\npoints = [[0.0, 0], [1.0, 1]]",
                ));
            };
            for (k, dv) in t.iter() {
                let dname = k.get_ref().to_string();
                let key = format!("datasets.{dname}");
                if PRESETS.contains(&dname.as_str()) {
                    return Err(ctx.err(
                        Some(&k.span()),
                        &key,
                        format!("`{dname}` is a built-in data set"),
                        "choose another name for your data set",
                    ));
                }
                let DeValue::Table(dt) = dv.get_ref() else {
                    return Err(ctx.err(
                        Some(&dv.span()),
                        &key,
                        "expected a table with `points`",
                        "[datasets.NAME]\npoints = [[0.0, 0], [1.0, 1]]",
                    ));
                };
                let mut points = None;
                let mut classes = None;
                for (dk, dval) in dt.iter() {
                    match dk.get_ref().as_ref() {
                        "points" => points = Some(dval),
                        "classes" => match de_int(dval.get_ref()) {
                            Some(c) if c >= 0 => classes = Some(c as usize),
                            _ => {
                                return Err(ctx.err(
                                    Some(&dval.span()),
                                    &format!("{key}.classes"),
                                    "expected a positive integer",
                                    "classes = 2",
                                ));
                            }
                        },
                        other => return Err(unknown_key(&ctx, &dk.span(), &key, other, &["points", "classes"])),
                    }
                }
                let Some(points) = points else {
                    return Err(ctx.err(Some(&k.span()), &key, "missing `points`", "points = [[x, label], …]"));
                };
                let DeValue::Array(rows) = points.get_ref() else {
                    return Err(ctx.err(
                        Some(&points.span()),
                        &format!("{key}.points"),
                        "expected an array of points",
                        "points = [[0.0, 0], [0.5, 1]]",
                    ));
                };
                let mut parsed = Vec::with_capacity(rows.len());
                for (i, row) in rows.iter().enumerate() {
                    let DeValue::Array(vals) = row.get_ref() else {
                        return Err(ctx.err(
                            Some(&row.span()),
                            &format!("{key}.points"),
                            format!("point {} is not an array", i + 1),
                            "write each point as [x₁, …, x_d, label]",
                        ));
                    };
                    let mut r = Vec::with_capacity(vals.len());
                    for x in vals.iter() {
                        match de_float(x.get_ref()) {
                            Some(f) => r.push(f),
                            None => {
                                return Err(ctx.err(
                                    Some(&x.span()),
                                    &format!("{key}.points"),
                                    format!("point {} holds {}, not a number", i + 1, type_name(x.get_ref())),
                                    "write each point as [x₁, …, x_d, label] with numbers",
                                ));
                            }
                        }
                    }
                    parsed.push(r);
                }
                let d = Dataset::from_rows(&dname, &parsed, classes).map_err(|e| {
                    ctx.err(
                        Some(&points.span()),
                        &format!("{key}.points"),
                        e.0,
                        "fix the points of this data set",
                    )
                })?;
                datasets.insert(dname, d);
            }
        }

        let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        let mut fixed: Vec<Option<Value>> = vec![None; PARAMS.len()];
        let mut fixed_span: Vec<Option<Range<usize>>> = vec![None; PARAMS.len()];
        if let Some((_, v)) = get("train") {
            let DeValue::Table(t) = v.get_ref() else {
                return Err(ctx.err(Some(&v.span()), "train", "expected a table", "[train]\ndataset = \"four\""));
            };
            for (k, val) in t.iter() {
                let key = k.get_ref().as_ref();
                let Some(i) = param_index(key) else {
                    return Err(unknown_key(&ctx, &k.span(), "train", key, &names));
                };
                if let DeValue::Array(_) = val.get_ref() {
                    return Err(ctx.err(
                        Some(&val.span()),
                        &format!("train.{key}"),
                        "a list in [train]",
                        format!("move `{key}` to [grid] to vary it, or give a single value"),
                    ));
                }
                let value = PARAMS[i]
                    .parse(val.get_ref(), &datasets)
                    .map_err(|(m, f)| ctx.err(Some(&val.span()), &format!("train.{key}"), m, f))?;
                fixed[i] = Some(value);
                fixed_span[i] = Some(k.span());
            }
        }
        let mut axes = Vec::new();
        if let Some((_, v)) = get("grid") {
            let DeValue::Table(t) = v.get_ref() else {
                return Err(ctx.err(Some(&v.span()), "grid", "expected a table", "[grid]\nlr = [0.05, 0.5]"));
            };
            let mut items: Vec<_> = t.iter().collect();
            items.sort_by_key(|(k, _)| k.span().start);
            for (k, val) in items {
                let key = k.get_ref().as_ref();
                let full = format!("grid.{key}");
                let Some(i) = param_index(key) else {
                    return Err(unknown_key(&ctx, &k.span(), "grid", key, &names));
                };
                if fixed[i].is_some() {
                    return Err(ctx.err(
                        Some(&k.span()),
                        &full,
                        format!("`{key}` is both fixed in [train] and varied in [grid]"),
                        format!(
                            "remove `{key}` from [train] (line {}) or from [grid]",
                            ctx.pos(fixed_span[i].as_ref().expect("set")).0
                        ),
                    ));
                }
                let DeValue::Array(levels) = val.get_ref() else {
                    return Err(ctx.err(
                        Some(&val.span()),
                        &full,
                        format!("expected a list of values, found {}", type_name(val.get_ref())),
                        format!("{key} = [{}] — or move a single value to [train]", PARAMS[i].example),
                    ));
                };
                if levels.is_empty() {
                    return Err(ctx.err(
                        Some(&val.span()),
                        &full,
                        "empty axis: a grid axis needs at least one value",
                        format!("give values, e.g. {key} = [{}], or remove the line", PARAMS[i].example),
                    ));
                }
                let mut vals: Vec<Value> = Vec::with_capacity(levels.len());
                let mut spelled: Vec<&str> = Vec::with_capacity(levels.len());
                for lv in levels.iter() {
                    let value = PARAMS[i]
                        .parse(lv.get_ref(), &datasets)
                        .map_err(|(m, f)| ctx.err(Some(&lv.span()), &full, m, f))?;
                    let text = src.get(lv.span()).unwrap_or("").trim();
                    if let Some(j) = vals.iter().position(|v| *v == value) {
                        let msg = if spelled[j] == text {
                            format!("`{text}` appears twice")
                        } else {
                            format!("`{}` and `{text}` are the same value (`{value}`)", spelled[j])
                        };
                        return Err(ctx.err(Some(&lv.span()), &full, msg, "list each level once"));
                    }
                    vals.push(value);
                    spelled.push(text);
                }
                axes.push((i, vals));
            }
        }
        // Defaults (required parameters stay `None`: see [`Config::require`]).
        for (i, p) in PARAMS.iter().enumerate() {
            if fixed[i].is_none() && !axes.iter().any(|(a, _)| *a == i) {
                fixed[i] = p.default_value();
            }
        }
        let mut excludes = Vec::new();
        if let Some((_, v)) = get("exclude") {
            let DeValue::Array(rules) = v.get_ref() else {
                return Err(ctx.err(
                    Some(&v.span()),
                    "exclude",
                    "expected [[exclude]] tables",
                    "[[exclude]]\nbatch_norm = true\nbatch = \"online\"",
                ));
            };
            for rule in rules.iter() {
                let DeValue::Table(t) = rule.get_ref() else {
                    return Err(ctx.err(Some(&rule.span()), "exclude", "expected a table", "[[exclude]]\nbatch_norm = true"));
                };
                if t.is_empty() {
                    return Err(ctx.err(
                        Some(&rule.span()),
                        "exclude",
                        "an empty [[exclude]] rule would drop every cell",
                        "name at least one parameter = value",
                    ));
                }
                let mut r = Vec::new();
                for (k, val) in t.iter() {
                    let key = k.get_ref().as_ref();
                    let Some(i) = param_index(key) else {
                        return Err(unknown_key(&ctx, &k.span(), "exclude", key, &names));
                    };
                    let value = PARAMS[i]
                        .parse_unchecked(val.get_ref(), &datasets)
                        .map_err(|(m, f)| ctx.err(Some(&val.span()), &format!("exclude.{key}"), m, f))?;
                    r.push((i, value));
                }
                excludes.push(r);
            }
        }
        Ok(Config {
            file: file.to_string(),
            source: src.to_string(),
            name,
            seeds,
            base_seed,
            paired_seeds,
            adaptive,
            fixed,
            axes,
            excludes,
            datasets,
            overrides: Vec::new(),
        })
    }

    /// Fails on the first required parameter that is neither fixed nor varied; `fix` says how
    /// to give it.
    pub(crate) fn require(&self, fix: impl Fn(&ParamDef) -> String) -> Result<(), ConfigError> {
        for (i, p) in PARAMS.iter().enumerate() {
            if self.fixed[i].is_none() && !self.axes.iter().any(|(a, _)| *a == i) {
                return Err(ConfigError {
                    file: self.file.clone(),
                    at: None,
                    key: p.name.to_string(),
                    message: format!("missing parameter `{}` ({})", p.name, p.help),
                    fix: fix(p),
                });
            }
        }
        Ok(())
    }

    /// Applies command-line overrides `key=value` in order: any parameter or a top-level key
    /// (`name`, `seeds`, `base_seed`, `paired_seeds`). One value fixes the parameter (replacing
    /// an axis of the file); several, `key=a,b,c` or `key=[a,b]`, make it a grid axis (replacing
    /// a fixed value, or the file's axis in place; a new axis goes last). Values parse exactly
    /// as in TOML ([`ParamDef::parse_text`]); commas inside parentheses, brackets and quotes do
    /// not split (`init_dist=normal(0,0.5),uniform(-1,1)` is two levels). Errors name the
    /// override, the key and the fix, like the file's. The overrides are recorded in
    /// [`Config::overrides`] (the manifest stores them; the effective values are in its
    /// resolved config, so a changed override is a changed config on resume).
    pub(crate) fn with_overrides(mut self, overrides: &[String]) -> Result<Config, ConfigError> {
        let mut seen: Vec<String> = Vec::new();
        let valid: Vec<&str> = OVERRIDE_TOP.iter().copied().chain(PARAMS.iter().map(|p| p.name)).collect();
        for o in overrides {
            let err = |key: &str, message: String, fix: String| ConfigError {
                file: format!("override `{o}`"),
                at: None,
                key: key.to_string(),
                message,
                fix,
            };
            let Some((key, text)) = o.split_once('=') else {
                return Err(err(
                    "",
                    "not of the form KEY=VALUE".into(),
                    "e.g. lr=0.5, or lr=0.1,0.5 to vary it (a list makes a grid axis)".into(),
                ));
            };
            let key = key.trim();
            if !valid.contains(&key) {
                let fix = match closest(key, valid.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`? valid keys: {}", valid.join(", ")),
                    None => format!("valid keys: {}", valid.join(", ")),
                };
                return Err(err(key, format!("unknown key `{key}`"), fix));
            }
            if seen.iter().any(|k| k == key) {
                return Err(err(
                    key,
                    format!("`{key}` is overridden twice"),
                    format!("give `{key}` once; list several values in one override to vary it: {key}=a,b"),
                ));
            }
            seen.push(key.to_string());
            let (levels, bracketed) = split_levels(text);
            if levels.is_empty() {
                return Err(err(key, "no value given".into(), format!("write {key}=VALUE")));
            }
            let Some(i) = param_index(key) else {
                if levels.len() > 1 || bracketed {
                    return Err(err(
                        key,
                        format!("`{key}` takes one value, not a list"),
                        format!("give a single value, e.g. {}", top_example(key)),
                    ));
                }
                self.set_top(key, levels[0]).map_err(|(m, f)| err(key, m, f))?;
                self.overrides.push(o.clone());
                continue;
            };
            let mut vals: Vec<Value> = Vec::with_capacity(levels.len());
            for lv in &levels {
                let value = PARAMS[i].parse_text(lv, &self.datasets).map_err(|(m, f)| {
                    let f = if f.is_empty() {
                        format!("{}: {}", PARAMS[i].name, PARAMS[i].help)
                    } else {
                        f
                    };
                    err(key, m, f)
                })?;
                if let Some(j) = vals.iter().position(|v| *v == value) {
                    let (a, b) = (levels[j].trim(), lv.trim());
                    let msg = if a == b {
                        format!("`{b}` appears twice")
                    } else {
                        format!("`{a}` and `{b}` are the same value (`{value}`)")
                    };
                    return Err(err(key, msg, "list each level once".into()));
                }
                vals.push(value);
            }
            if vals.len() == 1 && !bracketed {
                self.axes.retain(|(a, _)| *a != i);
                self.fixed[i] = vals.pop();
            } else if let Some(axis) = self.axes.iter_mut().find(|(a, _)| *a == i) {
                axis.1 = vals;
            } else {
                self.fixed[i] = None;
                self.axes.push((i, vals));
            }
            self.overrides.push(o.clone());
        }
        self.require(|p| {
            format!(
                "give it on the command line, e.g. {}={}, or in the config under [train]",
                p.name,
                p.example.trim_matches('"')
            )
        })?;
        Ok(self)
    }

    /// Sets a top-level key from an override's text; the error is (message, fix).
    fn set_top(&mut self, key: &str, text: &str) -> Result<(), (String, String)> {
        let fix = || top_example(key).to_string();
        with_literal(text, |v| {
            match key {
                "name" => match v {
                    DeValue::String(s) if valid_name(s) => self.name = s.to_string(),
                    DeValue::String(s) => {
                        return Err((
                            format!("name `{s}` is not usable as a directory name"),
                            "use letters, digits, '-', '_' and '.' only".into(),
                        ));
                    }
                    other => return Err((format!("expected a string, found {}", type_name(other)), fix())),
                },
                "seeds" if self.adaptive.is_some() => {
                    return Err((
                        "the config has an [adaptive] table, which chooses the seeds per cell".into(),
                        "leave `seeds` out (edit [adaptive] max_seeds in the config to change the cap)".into(),
                    ));
                }
                "seeds" => match de_int(v) {
                    Some(s) if s >= 1 && s <= u32::MAX as i128 => self.seeds = s as u32,
                    Some(s) => return Err((format!("seeds = {s}: need at least one replicate per cell"), fix())),
                    None => return Err((format!("expected an integer, found {}", type_name(v)), fix())),
                },
                "base_seed" => match de_int(v) {
                    Some(s) if s >= 0 && s <= u64::MAX as i128 => self.base_seed = s as u64,
                    _ => return Err((format!("expected a non-negative integer, found {}", type_name(v)), fix())),
                },
                "paired_seeds" => match v {
                    DeValue::Boolean(b) => self.paired_seeds = *b,
                    other => return Err((format!("expected true or false, found {}", type_name(other)), fix())),
                },
                _ => unreachable!("checked against OVERRIDE_TOP"),
            }
            Ok(())
        })
    }
}

/// Top-level keys an override may set (besides every parameter).
const OVERRIDE_TOP: [&str; 4] = ["name", "seeds", "base_seed", "paired_seeds"];

fn top_example(key: &str) -> &'static str {
    match key {
        "name" => "name=my-grid",
        "seeds" => "seeds=500",
        "base_seed" => "base_seed=2016",
        _ => "paired_seeds=false",
    }
}

/// Splits an override's value at the commas outside parentheses, brackets and quotes; a value
/// in brackets (`[a, b]`) is a list even with one element (the flag).
fn split_levels(text: &str) -> (Vec<&str>, bool) {
    let t = text.trim();
    let (t, bracketed) = match t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (t, false),
    };
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    for (i, ch) in t.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(t[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(t[start..].trim());
    if out.len() == 1 && out[0].is_empty() {
        out.clear();
    }
    (out, bracketed)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse("t.toml", src)
    }
    const OK: &str =
        "name = \"t\"\nseeds = 3\n[train]\ndataset = \"four\"\n[grid]\nlayout = [\"relu-sigmoid\", \"sigmoid-sigmoid\"]\nlr = [0.5, 1]\n";

    #[test]
    fn parses_a_grid_in_file_order() {
        let c = parse(OK).unwrap();
        let varied: Vec<&str> = c.axes.iter().map(|(i, _)| PARAMS[*i].name).collect();
        assert_eq!(varied, vec!["layout", "lr"]);
        assert_eq!(c.axes[1].1, vec![Value::F64(0.5), Value::F64(1.0)]);
        assert_eq!(c.fixed[param_index("init_dist").unwrap()], Some(Value::Str("uniform(-1,1)".into())));
    }

    #[test]
    fn errors_name_key_line_and_fix() {
        let e = parse("name = \"t\"\nseeds = 3\n[train]\ndataset = \"four\"\nlayot = \"relu-sigmoid\"\n").unwrap_err();
        assert_eq!(e.at, Some((5, 1)));
        assert!(e.fix.contains("did you mean `layout`"), "{e}");
        let e = parse(&OK.replace("lr = [0.5, 1]", "lr = []")).unwrap_err();
        assert!(e.message.contains("empty axis"), "{e}");
        let e = parse(&OK.replace("lr = [0.5, 1]", "lr = [0.5, -1]")).unwrap_err();
        assert_eq!(e.at, Some((7, 12)));
        let e = parse(&OK.replace("dataset = \"four\"", "dataset = \"four\"\nlayout = \"relu-relu\"")).unwrap_err();
        assert!(e.message.contains("both fixed"), "{e}");
        let e = parse("name = \"t\"\nseeds = [3\n").unwrap_err();
        assert!(e.message.contains("malformed TOML"), "{e}");
        assert_eq!(e.at.unwrap().0, 2);
        let e = parse(&OK.replace("seeds = 3", "seeds = 0")).unwrap_err();
        assert_eq!(e.key, "seeds");
        let e = parse(&OK.replace("seeds = 3", "seeds = \"3\"")).unwrap_err();
        assert!(e.message.contains("expected an integer, found a string"), "{e}");
        let e = parse(&OK.replace("\"four\"", "\"fuor\"")).unwrap_err();
        assert!(e.fix.contains("did you mean `four`"), "{e}");
        let e = parse(&OK.replace("\"four\"", "\"mine\"\n[datasets.mine]\npoints = [[0.0, 0], [nan, 1]]")).unwrap_err();
        assert!(e.message.contains("point 2 contains NaN"), "{e}");
    }

    #[test]
    fn inline_data_sets() {
        let c = parse(&OK.replace("\"four\"", "\"mine\"\n[datasets.mine]\npoints = [[0.0, 0.0, 0], [1.0, 1.0, 1]]")).unwrap();
        assert_eq!(c.datasets["mine"].dim, 2);
    }

    fn ov(src: &str, o: &[&str]) -> Result<Config, ConfigError> {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        parse(src).unwrap().with_overrides(&o)
    }

    #[test]
    fn overrides_fix_vary_and_replace() {
        let c = ov(OK, &["lr=0.9", "seeds=200", "base_seed=7", "name=x", "momentum=0.5,0.9"]).unwrap();
        let varied: Vec<&str> = c.axes.iter().map(|(i, _)| PARAMS[*i].name).collect();
        assert_eq!(varied, vec!["layout", "momentum"]);
        assert_eq!(c.fixed[param_index("lr").unwrap()], Some(Value::F64(0.9)));
        assert_eq!((c.seeds, c.base_seed, c.name.as_str()), (200, 7, "x"));
        assert_eq!(c.overrides.len(), 5);
        // an axis of the file replaced in place; a fixed value made an axis
        let c = ov(OK, &["lr=0.1,0.2,0.3", "dataset=three,four"]).unwrap();
        assert_eq!(c.axes[1].0, param_index("lr").unwrap());
        assert_eq!(c.axes[1].1.len(), 3);
        assert_eq!(c.axes[2].1, vec![Value::Str("three".into()), Value::Str("four".into())]);
        assert_eq!(c.fixed[param_index("dataset").unwrap()], None);
        // commas inside parentheses do not split; brackets make a list
        let c = ov(OK, &["init_dist=normal(0,0.5),uniform(-1,1)", "batch_norm=[true]"]).unwrap();
        assert_eq!(
            c.axes[2].1,
            vec![Value::Str("normal(0,0.5)".into()), Value::Str("uniform(-1,1)".into())]
        );
        assert_eq!(c.axes[3].1, vec![Value::Bool(true)]);
        // same effective config as writing it in the file
        let a = ov(OK, &["lr=0.5,1", "dataset=four"]).unwrap();
        let b = parse(OK).unwrap();
        assert_eq!((a.fixed, a.axes), (b.fixed, b.axes));
    }

    #[test]
    fn override_errors_name_the_override_key_and_fix() {
        let e = ov(OK, &["layot=relu-relu"]).unwrap_err();
        assert!(e.to_string().starts_with("override `layot=relu-relu`"), "{e}");
        assert!(e.fix.contains("did you mean `layout`"), "{e}");
        let e = ov(OK, &["lr=fast"]).unwrap_err();
        assert_eq!(e.key, "lr");
        assert!(e.message.contains("expected a number"), "{e}");
        let e = ov(OK, &["lr=0.5,-1"]).unwrap_err();
        assert!(e.message.contains("must be a positive"), "{e}");
        let e = ov(OK, &["lr=0.5,0.50"]).unwrap_err();
        assert!(e.message.contains("same value"), "{e}");
        let e = ov(OK, &["lr=0.5", "lr=0.9"]).unwrap_err();
        assert!(e.message.contains("overridden twice"), "{e}");
        let e = ov(OK, &["seeds=1,2"]).unwrap_err();
        assert!(e.message.contains("takes one value"), "{e}");
        let e = ov(OK, &["seeds=0"]).unwrap_err();
        assert!(e.message.contains("at least one"), "{e}");
        let e = ov(OK, &["lr"]).unwrap_err();
        assert!(e.message.contains("KEY=VALUE"), "{e}");
        let e = ov(OK, &["dataset=fuor"]).unwrap_err();
        assert!(e.fix.contains("did you mean `four`"), "{e}");
        let e = Config::parse_partial("ask", "name = \"a\"\nseeds = 1\n")
            .unwrap()
            .with_overrides(&["dataset=two".into(), "layout=relu-relu".into()])
            .unwrap_err();
        assert!(e.message.contains("missing parameter `lr`") && e.fix.contains("lr=0.5"), "{e}");
    }
}
