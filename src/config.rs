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
//! Every error names the key, the line in the file and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::core::Dataset;
use crate::core::data::PRESETS;
use crate::params::{Datasets, PARAMS, Value, closest, de_float, de_int, param_index, type_name};

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
    /// Every parameter's fixed value (`[train]` or default), `None` for varied ones.
    pub fixed: Vec<Option<Value>>,
    /// Varied parameters with their levels, in the order of the `[grid]` table.
    pub axes: Vec<(usize, Vec<Value>)>,
    /// `[[exclude]]` rules: a combination is dropped when it matches every pair of a rule.
    pub excludes: Vec<Vec<(usize, Value)>>,
    pub datasets: Datasets,
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

const TOP_KEYS: [&str; 8] = ["name", "seeds", "base_seed", "paired_seeds", "train", "grid", "exclude", "datasets"];

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
        let seeds = match get("seeds") {
            Some((_, v)) => match de_int(v.get_ref()) {
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
            None => return Err(ctx.err(None, "seeds", "missing `seeds`", "add seeds = 500 (replicates per cell) at the top")),
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
        // Defaults and required parameters.
        for (i, p) in PARAMS.iter().enumerate() {
            if fixed[i].is_none() && !axes.iter().any(|(a, _)| *a == i) {
                match p.default_value() {
                    Some(v) => fixed[i] = Some(v),
                    None => {
                        return Err(ctx.err(
                            None,
                            p.name,
                            format!("missing parameter `{}` ({})", p.name, p.help),
                            format!("add {} = {} under [train], or a list under [grid]", p.name, p.example),
                        ));
                    }
                }
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
            fixed,
            axes,
            excludes,
            datasets,
        })
    }
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
}
