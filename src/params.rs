//! THE parameter table: every training parameter's name, type, default, parser, canonical
//! form, range check, the [`TrainSpec`] field it sets, and its documentation line.
//!
//! Adding a parameter touches this table (one [`ParamDef`]) and the trainer that uses it —
//! the config parser, the cell ids, the Parquet columns, `--where`, overrides and the manifest
//! all iterate over [`PARAMS`]. Values are parsed once, by the parameter's own parser, into a
//! canonical [`Value`]; values are compared as values (`lr = 0.50` equals `0.5`, `batch = 1`
//! equals `"online"`), never as the text a user typed.

use std::collections::BTreeMap;
use std::fmt;

use toml::de::{DeTable, DeValue};

use crate::core::Dataset;
use crate::core::data::PRESETS;
use crate::core::spec::{Batch, BiasInit, InitDist, InitOrder, Layout, Loss, SampleOrder, Targets};
use crate::core::{Activation, TrainSpec};

/// Inline data sets of a config, by name.
pub(crate) type Datasets = BTreeMap<String, Dataset>;

/// The type of a parameter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bool,
    U32,
    F64,
    /// "online", "full" or an integer.
    Batch,
}

/// A problem with one value: (what is wrong, how to fix it).
pub(crate) type ValueError = (String, String);

/// One training parameter.
#[derive(Clone, Copy)]
pub(crate) struct ParamDef {
    pub name: &'static str,
    pub kind: Kind,
    /// `None`: must be given in `[train]` or `[grid]`.
    pub default: Option<&'static str>,
    /// A valid TOML literal, for messages.
    pub example: &'static str,
    /// One line of documentation.
    pub help: &'static str,
    /// Canonical text of a string value (for [`Kind::Str`]); the error is (message, fix), an
    /// empty fix meaning "the parameter's help line".
    canon: fn(&str, &Datasets) -> Result<String, ValueError>,
    /// Range check that holds whatever the other parameters are.
    check: fn(&Value) -> Result<(), ValueError>,
    /// Sets the parameter in a spec built from the required parameters.
    apply: fn(&mut TrainSpec, &Value),
    /// Parameters an invalid combination involving this one is likely to involve too (for the
    /// `[[exclude]]` rule suggested in errors).
    pub involved: &'static [&'static str],
}

impl fmt::Debug for ParamDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParamDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

fn no_canon(s: &str, _: &Datasets) -> Result<String, ValueError> {
    Ok(s.to_string())
}
fn no_check(_: &Value) -> Result<(), ValueError> {
    Ok(())
}
fn no_apply(_: &mut TrainSpec, _: &Value) {}
fn parsed<T: std::str::FromStr<Err = crate::core::spec::ParseError> + fmt::Display>(s: &str) -> Result<String, ValueError> {
    s.parse::<T>().map(|v| v.to_string()).map_err(|e| (e.0, String::new()))
}
fn text(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}
fn typed<T: std::str::FromStr>(v: &Value) -> T
where
    T::Err: fmt::Debug,
{
    text(v).parse().expect("canonical text parses: it was produced by the same parser")
}
fn float(v: &Value) -> f64 {
    match v {
        Value::F64(x) => *x,
        Value::U32(u) => *u as f64,
        _ => f64::NAN,
    }
}
fn uint(v: &Value) -> u32 {
    match v {
        Value::U32(u) => *u,
        _ => 0,
    }
}
fn bad(m: String, fix: &str) -> Result<(), ValueError> {
    Err((m, fix.to_string()))
}

/// Every training parameter, in canonical order (the order of the Parquet columns and of the
/// lines hashed into cell ids — never reorder).
pub(crate) const PARAMS: [ParamDef; 16] = [
    ParamDef {
        name: "dataset",
        kind: Kind::Str,
        default: None,
        example: "\"four\"",
        help: "two, three, four, five, xor or a [datasets.NAME] table",
        canon: |s, datasets| {
            if datasets.contains_key(s) || PRESETS.contains(&s) {
                Ok(s.to_string())
            } else {
                let names: Vec<&str> = PRESETS.iter().copied().chain(datasets.keys().map(|k| k.as_str())).collect();
                let hint = closest(s, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                Err((
                    format!("unknown data set `{s}`"),
                    format!("{hint}use one of {} or define it in a [datasets.{s}] table", names.join(", ")),
                ))
            }
        },
        check: no_check,
        apply: no_apply, // given to TrainSpec::new
        involved: &["dataset"],
    },
    ParamDef {
        name: "targets",
        kind: Kind::Str,
        default: Some("onehot"),
        example: "\"onehot\"",
        help: "onehot (one output per class) or binary (one output)",
        canon: |s, _| parsed::<Targets>(s),
        check: no_check,
        apply: |t, v| t.targets = typed(v),
        involved: &["targets", "layout", "dataset"],
    },
    ParamDef {
        name: "layout",
        kind: Kind::Str,
        default: None,
        example: "\"relu-sigmoid\"",
        help: "layers after the input, e.g. relu-sigmoid or relu:8-sigmoid:3-sigmoid",
        canon: |s, _| parsed::<Layout>(s),
        check: no_check,
        apply: no_apply, // given to TrainSpec::new
        involved: &["layout", "targets", "dataset"],
    },
    ParamDef {
        name: "hidden",
        kind: Kind::U32,
        default: Some("4"),
        example: "4",
        help: "width of hidden layers without an explicit :width",
        canon: no_canon,
        check: |v| match v {
            Value::U32(0) => bad("hidden = 0 leaves no hidden units".into(), "hidden must be ≥ 1, e.g. 4"),
            _ => Ok(()),
        },
        apply: |t, v| t.hidden = uint(v),
        involved: &["hidden"],
    },
    ParamDef {
        name: "init_order",
        kind: Kind::Str,
        default: Some("neuron"),
        example: "\"neuron\"",
        help: "neuron, layer or bias_first",
        canon: |s, _| parsed::<InitOrder>(s),
        check: no_check,
        apply: |t, v| t.init_order = typed(v),
        involved: &[],
    },
    ParamDef {
        name: "init_dist",
        kind: Kind::Str,
        default: Some("uniform(-1,1)"),
        example: "\"uniform(-1,1)\"",
        help: "uniform(a,b), normal(m,s), xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_uniform, lecun_normal, torch_default",
        canon: |s, _| parsed::<InitDist>(s),
        check: no_check,
        apply: |t, v| t.init_dist = typed(v),
        involved: &[],
    },
    ParamDef {
        name: "bias_init",
        kind: Kind::Str,
        default: Some("same"),
        example: "\"same\"",
        help: "zeros, const(c), same, uniform(a,b), normal(m,s), torch_default",
        canon: |s, _| parsed::<BiasInit>(s),
        check: no_check,
        apply: |t, v| t.bias_init = typed(v),
        involved: &[],
    },
    ParamDef {
        name: "batch_norm",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        help: "batch norm before every hidden activation",
        canon: no_canon,
        check: no_check,
        apply: |t, v| t.batch_norm = matches!(v, Value::Bool(true)),
        involved: &["batch_norm", "batch", "dataset"],
    },
    ParamDef {
        name: "loss",
        kind: Kind::Str,
        default: Some("auto"),
        example: "\"mse\"",
        help: "mse, ce, or auto (ce for a softmax output, else mse)",
        canon: |s, _| {
            if s.trim().eq_ignore_ascii_case("auto") {
                Ok("auto".into())
            } else {
                parsed::<Loss>(s)
            }
        },
        check: no_check,
        apply: |t, v| {
            if text(v) != "auto" {
                t.loss = typed(v);
            }
        },
        involved: &["layout", "loss"],
    },
    ParamDef {
        name: "batch",
        kind: Kind::Batch,
        default: Some("online"),
        example: "\"online\"",
        help: "online, full or a batch size (1 is online)",
        canon: |s, _| parsed::<Batch>(s),
        check: no_check,
        apply: |t, v| t.batch = typed(v),
        involved: &["batch_norm", "batch", "dataset"],
    },
    ParamDef {
        name: "sample_order",
        kind: Kind::Str,
        default: Some("fixed"),
        example: "\"fixed\"",
        help: "fixed or shuffled (every epoch)",
        canon: |s, _| parsed::<SampleOrder>(s),
        check: no_check,
        apply: |t, v| t.sample_order = typed(v),
        involved: &[],
    },
    ParamDef {
        name: "lr",
        kind: Kind::F64,
        default: None,
        example: "0.5",
        help: "learning rate > 0",
        canon: no_canon,
        check: |v| match v {
            Value::F64(x) if !(x.is_finite() && *x > 0.0) => {
                bad(format!("learning rate {x} must be a positive finite number"), "e.g. lr = 0.5")
            }
            _ => Ok(()),
        },
        apply: |t, v| t.lr = float(v),
        involved: &["lr"],
    },
    ParamDef {
        name: "momentum",
        kind: Kind::F64,
        default: Some("0"),
        example: "0.9",
        help: "SGD momentum in [0,1)",
        canon: no_canon,
        check: |v| match v {
            Value::F64(x) if !(x.is_finite() && (0.0..1.0).contains(x)) => {
                bad(format!("momentum {x} must be in [0, 1)"), "e.g. momentum = 0.9, or 0 for plain SGD")
            }
            _ => Ok(()),
        },
        apply: |t, v| t.momentum = float(v),
        involved: &["momentum"],
    },
    ParamDef {
        name: "max_epochs",
        kind: Kind::U32,
        default: Some("2000"),
        example: "2000",
        help: "epochs before a run counts as stalled",
        canon: no_canon,
        check: |v| match v {
            Value::U32(0) => bad("max_epochs = 0 trains nothing".into(), "max_epochs must be ≥ 1, e.g. 2000"),
            _ => Ok(()),
        },
        apply: |t, v| t.max_epochs = uint(v),
        involved: &["max_epochs"],
    },
    ParamDef {
        name: "tol",
        kind: Kind::F64,
        default: Some("0.01"),
        example: "0.01",
        help: "converged when mean loss ≤ tol and all samples correct",
        canon: no_canon,
        check: |v| match v {
            Value::F64(x) if !(x.is_finite() && *x >= 0.0) => bad(format!("tol {x} must be a finite number ≥ 0"), "e.g. tol = 0.01"),
            _ => Ok(()),
        },
        apply: |t, v| t.tol = float(v),
        involved: &["tol", "diverge_loss"],
    },
    ParamDef {
        name: "diverge_loss",
        kind: Kind::F64,
        default: Some("1000000"),
        example: "1e6",
        help: "diverged when the loss exceeds this",
        canon: no_canon,
        check: |v| match v {
            Value::F64(x) if x.is_nan() || *x <= 0.0 => bad(format!("diverge_loss {x} must be positive"), "e.g. diverge_loss = 1e6"),
            _ => Ok(()),
        },
        apply: |t, v| t.diverge_loss = float(v),
        involved: &["tol", "diverge_loss"],
    },
];

/// Index of a parameter in [`PARAMS`].
pub(crate) fn param_index(name: &str) -> Option<usize> {
    PARAMS.iter().position(|p| p.name == name)
}

/// A parameter value in canonical form: typed, and with one text form (what tables store and
/// cell ids hash).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Bool(bool),
    U32(u32),
    F64(f64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::U32(u) => write!(f, "{u}"),
            Value::F64(x) => write!(f, "{x}"),
        }
    }
}

impl Value {
    /// The value as a TOML literal (for messages suggesting an `[[exclude]]` rule).
    pub(crate) fn toml(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            other => other.to_string(),
        }
    }
}

/// Closest of `candidates` to `word` by edit distance, if reasonably close.
pub(crate) fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Calls `f` with command-line text read as a TOML value (`0.5`, `true`, `"x"`, `[1, 2]`); text
/// that is not a TOML literal (`relu-sigmoid`, `normal(0,0.5)`) is taken as a string.
pub(crate) fn with_literal<R>(text: &str, f: impl FnOnce(&DeValue) -> R) -> R {
    let text = text.trim();
    let doc = format!("v = {text}");
    match DeTable::parse(&doc) {
        Ok(t) => match t.get_ref().iter().find(|(k, _)| k.get_ref().as_ref() == "v") {
            Some((_, v)) => f(v.get_ref()),
            None => f(&DeValue::String(text.to_string().into())),
        },
        Err(_) => f(&DeValue::String(text.to_string().into())),
    }
}

/// "an integer", "a string", … for messages.
pub(crate) fn type_name(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

pub(crate) fn de_int(v: &DeValue) -> Option<i128> {
    match v {
        DeValue::Integer(i) => i128::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
        _ => None,
    }
}

pub(crate) fn de_float(v: &DeValue) -> Option<f64> {
    match v {
        DeValue::Float(f) => {
            let s = f.as_str().replace('_', "");
            match s.as_str() {
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => s.parse().ok(),
            }
        }
        DeValue::Integer(_) => de_int(v).map(|i| i as f64),
        _ => None,
    }
}

impl ParamDef {
    /// Parses one TOML value into canonical form and checks its range.
    pub(crate) fn parse(&self, v: &DeValue, datasets: &Datasets) -> Result<Value, ValueError> {
        let value = self.parse_unchecked(v, datasets)?;
        (self.check)(&value)?;
        Ok(value)
    }

    /// Parses one TOML value into canonical form without the range check (exclude rules may
    /// name any value).
    pub(crate) fn parse_unchecked(&self, v: &DeValue, datasets: &Datasets) -> Result<Value, ValueError> {
        let wrong = || {
            let want = match self.kind {
                Kind::Str => "a string",
                Kind::Bool => "true or false",
                Kind::U32 => "a non-negative integer",
                Kind::F64 => "a number",
                Kind::Batch => "\"online\", \"full\" or an integer",
            };
            (
                format!("expected {want}, found {}", type_name(v)),
                format!("{} = {}", self.name, self.example),
            )
        };
        let with_fix = |(m, f): ValueError| {
            let f = if f.is_empty() { format!("{}: {}", self.name, self.help) } else { f };
            (m, f)
        };
        match self.kind {
            Kind::Bool => match v {
                DeValue::Boolean(b) => Ok(Value::Bool(*b)),
                _ => Err(wrong()),
            },
            Kind::U32 => match de_int(v) {
                Some(i) if (0..=u32::MAX as i128).contains(&i) => Ok(Value::U32(i as u32)),
                Some(i) => Err((
                    format!("{i} is out of range"),
                    format!("{} must be between 0 and {}", self.name, u32::MAX),
                )),
                None => Err(wrong()),
            },
            Kind::F64 => match de_float(v) {
                Some(x) => Ok(Value::F64(x)),
                None => Err(wrong()),
            },
            Kind::Batch => match (v, de_int(v)) {
                // A batch of one sample *is* online learning: one canonical value.
                (_, Some(1)) => Ok(Value::Str(Batch::Online.to_string())),
                (_, Some(i)) if i >= 2 && i <= u32::MAX as i128 => Ok(Value::Str(Batch::Size(i as u32).to_string())),
                (_, Some(i)) => Err((
                    format!("batch size {i} must be ≥ 1"),
                    "batch = \"online\", \"full\" or an integer ≥ 1".into(),
                )),
                (DeValue::String(s), _) => (self.canon)(s, datasets).map(Value::Str).map_err(with_fix),
                _ => Err(wrong()),
            },
            Kind::Str => {
                let DeValue::String(s) = v else { return Err(wrong()) };
                (self.canon)(s, datasets).map(Value::Str).map_err(with_fix)
            }
        }
    }

    /// Parses a value written on the command line (`--where k=v`, overrides `k=v`) exactly as
    /// it would be parsed in TOML; text that is not a TOML literal (`relu-sigmoid`,
    /// `normal(0,0.5)`) is taken as a string.
    pub(crate) fn parse_text(&self, text: &str, datasets: &Datasets) -> Result<Value, ValueError> {
        with_literal(text, |v| self.parse(v, datasets))
    }

    /// The default as a canonical value.
    pub(crate) fn default_value(&self) -> Option<Value> {
        let d = self.default?;
        Some(match self.kind {
            Kind::Bool => Value::Bool(d == "true"),
            Kind::U32 => Value::U32(d.parse().expect("default parses")),
            Kind::F64 => Value::F64(d.parse().expect("default parses")),
            Kind::Str | Kind::Batch => Value::Str(d.to_string()),
        })
    }
}

/// The typed spec of one combination of canonical values (one per [`PARAMS`] entry); resolves
/// `loss = "auto"` in `values`. The error is (parameter, message).
pub(crate) fn build_spec(values: &mut [Value], datasets: &Datasets) -> Result<TrainSpec, (String, String)> {
    let at = |name: &str| &values[param_index(name).expect("known")];
    let name = at("dataset").to_string();
    let dataset = datasets
        .get(&name)
        .cloned()
        .or_else(|| Dataset::preset(&name))
        .ok_or_else(|| ("dataset".to_string(), format!("unknown data set `{name}`")))?;
    let layout: Layout = typed(at("layout"));
    let mut spec = TrainSpec::new(dataset, layout, float(at("lr")));
    for (p, v) in PARAMS.iter().zip(values.iter()) {
        (p.apply)(&mut spec, v);
    }
    if text(at("loss")) == "auto" {
        spec.loss = if spec.layout.output() == Activation::Softmax {
            Loss::Ce
        } else {
            Loss::Mse
        };
    }
    values[param_index("loss").expect("known")] = Value::Str(spec.loss.to_string());
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> &'static ParamDef {
        &PARAMS[param_index(name).unwrap()]
    }

    #[test]
    fn command_line_text_parses_as_toml() {
        let d = Datasets::new();
        assert_eq!(p("lr").parse_text("0.50", &d).unwrap(), Value::F64(0.5));
        assert_eq!(p("lr").parse_text("5e-1", &d).unwrap(), Value::F64(0.5));
        assert_eq!(p("batch_norm").parse_text("true", &d).unwrap(), Value::Bool(true));
        assert_eq!(
            p("layout").parse_text("relu-sigmoid", &d).unwrap(),
            Value::Str("relu-sigmoid".into())
        );
        assert_eq!(
            p("layout").parse_text("\"relu-sigmoid\"", &d).unwrap(),
            Value::Str("relu-sigmoid".into())
        );
        assert_eq!(
            p("init_dist").parse_text("normal(0,0.5)", &d).unwrap(),
            Value::Str("normal(0,0.5)".into())
        );
        assert!(p("lr").parse_text("-1", &d).is_err());
        assert!(p("lr").parse_text("fast", &d).is_err());
        assert!(p("dataset").parse_text("fuor", &d).unwrap_err().1.contains("did you mean `four`"));
    }

    #[test]
    fn a_batch_of_one_is_online() {
        let d = Datasets::new();
        let b = p("batch");
        assert_eq!(b.parse_text("1", &d).unwrap(), b.parse_text("online", &d).unwrap());
        assert_eq!(b.parse_text("\"1\"", &d).unwrap(), Value::Str("online".into()));
        assert_eq!(b.parse_text("2", &d).unwrap(), Value::Str("2".into()));
        assert!(b.parse_text("0", &d).is_err());
    }

    #[test]
    fn every_default_parses_and_passes_its_check() {
        let d = Datasets::new();
        for def in PARAMS.iter() {
            if let Some(v) = def.default_value() {
                let again = def.parse_text(&v.toml(), &d).unwrap_or_else(|e| panic!("{}: {e:?}", def.name));
                assert_eq!(again, v, "{}", def.name);
            }
            // the example is valid TOML for the parameter
            def.parse_text(def.example, &d)
                .unwrap_or_else(|e| panic!("{} example: {e:?}", def.name));
        }
    }
}
