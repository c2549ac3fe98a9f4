//! Typed training parameters and their text forms.
//!
//! Every parameter of a run has one canonical text form (what the config accepts and what the
//! Parquet tables store): `"uniform(-1,1)"`, `"he_normal"`, `"relu:8-sigmoid"`, `"online"`, …
//! `FromStr` parses it, `Display` writes it back, and `parse(display(x)) == x` for every value.

use std::fmt;
use std::str::FromStr;

/// A value could not be parsed or is invalid; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// Splits `name(a,b)` into `("name", ["a","b"])`; a bare `name` gives no arguments.
pub fn split_call(s: &str) -> Result<(String, Vec<String>), ParseError> {
    let s = s.trim();
    match s.find('(') {
        None => Ok((s.to_ascii_lowercase(), Vec::new())),
        Some(open) => {
            if !s.ends_with(')') {
                return err(format!("`{s}`: missing closing parenthesis"));
            }
            let name = s[..open].trim().to_ascii_lowercase();
            let inner = &s[open + 1..s.len() - 1];
            let args = inner.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
            Ok((name, args))
        }
    }
}

fn parse_args<const K: usize>(name: &str, args: &[String], usage: &str) -> Result<[f64; K], ParseError> {
    if args.len() != K {
        return err(format!("`{name}` takes {K} number(s): write `{usage}`"));
    }
    let mut out = [0.0; K];
    for (o, a) in out.iter_mut().zip(args) {
        *o = a
            .parse::<f64>()
            .map_err(|_| ParseError(format!("`{a}` in `{name}(…)` is not a number: write `{usage}`")))?;
        if !o.is_finite() {
            return err(format!("`{a}` in `{name}(…)` must be finite"));
        }
    }
    Ok(out)
}

/// Activation of a layer. ReLU'(0) = 0 as in PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    Sigmoid,
    Relu,
    /// Leaky ReLU with negative slope 0.01 (PyTorch's default).
    LeakyRelu,
    Tanh,
    Linear,
    /// Softmax over the output layer; only valid as the output activation, with `loss = "ce"`.
    Softmax,
}

/// Negative slope of `leaky_relu`.
pub const LEAKY_SLOPE: f64 = 0.01;

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::Sigmoid,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Linear,
        Activation::Softmax,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Linear => "linear",
            Activation::Softmax => "softmax",
        }
    }
}

impl FromStr for Activation {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim().to_ascii_lowercase();
        let t = match t.as_str() {
            "sigmod" => "sigmoid", // the article's spelling
            "leaky" | "leakyrelu" | "leaky-relu" => "leaky_relu",
            "identity" => "linear",
            other => other,
        };
        Activation::ALL.into_iter().find(|a| a.name() == t).ok_or_else(|| {
            ParseError(format!(
                "unknown activation `{s}`: use one of sigmoid, relu, leaky_relu, tanh, linear, softmax"
            ))
        })
    }
}

/// One token of a layout: an activation and an optional explicit width (`relu:8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerToken {
    pub activation: Activation,
    pub width: Option<u32>,
}

/// The layers after the input, the last being the output layer: `relu-sigmoid`, `relu:8-tanh:3-softmax`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout(pub Vec<LayerToken>);

impl FromStr for Layout {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() {
            return err("empty layout: write e.g. `relu-sigmoid` (hidden relu, output sigmoid)");
        }
        let mut tokens = Vec::new();
        for tok in s.split('-') {
            let (act, width) = match tok.split_once(':') {
                Some((a, w)) => {
                    let w: u32 = w
                        .trim()
                        .parse()
                        .map_err(|_| ParseError(format!("layout `{s}`: width `{w}` is not a positive integer")))?;
                    if w == 0 {
                        return err(format!("layout `{s}`: a layer width must be ≥ 1"));
                    }
                    (a, Some(w))
                }
                None => (tok, None),
            };
            let activation: Activation = act.parse().map_err(|e: ParseError| ParseError(format!("layout `{s}`: {}", e.0)))?;
            tokens.push(LayerToken { activation, width });
        }
        if tokens.len() < 2 {
            return err(format!(
                "layout `{s}` has no hidden layer: name at least two layers, e.g. `relu-sigmoid`"
            ));
        }
        if let Some(i) = tokens[..tokens.len() - 1].iter().position(|t| t.activation == Activation::Softmax) {
            return err(format!(
                "layout `{s}`: softmax is only allowed on the output layer (layer {} is hidden)",
                i + 1
            ));
        }
        Ok(Layout(tokens))
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(t.activation.name())?;
            if let Some(w) = t.width {
                write!(f, ":{w}")?;
            }
        }
        Ok(())
    }
}

impl Layout {
    pub fn output(&self) -> Activation {
        self.0.last().expect("layout has ≥ 2 layers").activation
    }
}

/// Weight distribution, as torch.nn.init defines it (fan_in = inputs of the layer, fan_out = units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitDist {
    /// U(a, b)
    Uniform {
        a: f64,
        b: f64,
    },
    /// N(mean, std²)
    Normal {
        mean: f64,
        std: f64,
    },
    XavierUniform,
    XavierNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    /// nn.Linear's default: U(±1/√fan_in) (kaiming_uniform_ with a = √5).
    TorchDefault,
}

fn fmt_num(x: f64) -> String {
    format!("{x}")
}

impl fmt::Display for InitDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InitDist::Uniform { a, b } => write!(f, "uniform({},{})", fmt_num(a), fmt_num(b)),
            InitDist::Normal { mean, std } => write!(f, "normal({},{})", fmt_num(mean), fmt_num(std)),
            InitDist::XavierUniform => f.write_str("xavier_uniform"),
            InitDist::XavierNormal => f.write_str("xavier_normal"),
            InitDist::HeUniform => f.write_str("he_uniform"),
            InitDist::HeNormal => f.write_str("he_normal"),
            InitDist::LecunUniform => f.write_str("lecun_uniform"),
            InitDist::LecunNormal => f.write_str("lecun_normal"),
            InitDist::TorchDefault => f.write_str("torch_default"),
        }
    }
}

const INIT_DIST_HELP: &str = "use uniform(a,b), normal(mean,std), xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_uniform, lecun_normal or torch_default";

impl FromStr for InitDist {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (name, args) = split_call(s)?;
        let plain = |d: InitDist| -> Result<InitDist, ParseError> {
            if args.is_empty() {
                Ok(d)
            } else {
                err(format!("`{name}` takes no arguments"))
            }
        };
        match name.as_str() {
            "uniform" => {
                let [a, b] = parse_args::<2>(&name, &args, "uniform(-1,1)")?;
                if a >= b {
                    return err(format!("uniform({a},{b}): the lower bound must be below the upper"));
                }
                Ok(InitDist::Uniform { a, b })
            }
            "normal" | "gaussian" => {
                let [mean, std] = parse_args::<2>(&name, &args, "normal(0,1)")?;
                if std < 0.0 {
                    return err(format!("normal({mean},{std}): std must be ≥ 0"));
                }
                Ok(InitDist::Normal { mean, std })
            }
            "xavier_uniform" | "glorot_uniform" => plain(InitDist::XavierUniform),
            "xavier_normal" | "glorot_normal" => plain(InitDist::XavierNormal),
            "he_uniform" | "kaiming_uniform" => plain(InitDist::HeUniform),
            "he_normal" | "kaiming_normal" => plain(InitDist::HeNormal),
            "lecun_uniform" => plain(InitDist::LecunUniform),
            "lecun_normal" => plain(InitDist::LecunNormal),
            "torch_default" | "default" => plain(InitDist::TorchDefault),
            _ => err(format!("unknown init distribution `{s}`: {INIT_DIST_HELP}")),
        }
    }
}

/// Bias initialisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BiasInit {
    Zeros,
    Const(f64),
    /// Drawn from the layer's weight distribution.
    Same,
    Uniform {
        a: f64,
        b: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    /// U(±1/√fan_in), nn.Linear's default bias.
    TorchDefault,
}

impl fmt::Display for BiasInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BiasInit::Zeros => f.write_str("zeros"),
            BiasInit::Const(c) => write!(f, "const({})", fmt_num(c)),
            BiasInit::Same => f.write_str("same"),
            BiasInit::Uniform { a, b } => write!(f, "uniform({},{})", fmt_num(a), fmt_num(b)),
            BiasInit::Normal { mean, std } => write!(f, "normal({},{})", fmt_num(mean), fmt_num(std)),
            BiasInit::TorchDefault => f.write_str("torch_default"),
        }
    }
}

impl FromStr for BiasInit {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (name, args) = split_call(s)?;
        match name.as_str() {
            "zeros" | "zero" | "0" if args.is_empty() => Ok(BiasInit::Zeros),
            "same" if args.is_empty() => Ok(BiasInit::Same),
            "torch_default" | "default" if args.is_empty() => Ok(BiasInit::TorchDefault),
            "const" | "constant" => {
                let [c] = parse_args::<1>(&name, &args, "const(0.1)")?;
                Ok(BiasInit::Const(c))
            }
            "uniform" | "normal" | "gaussian" => match s.parse::<InitDist>()? {
                InitDist::Uniform { a, b } => Ok(BiasInit::Uniform { a, b }),
                InitDist::Normal { mean, std } => Ok(BiasInit::Normal { mean, std }),
                _ => unreachable!("uniform/normal parse to themselves"),
            },
            _ => err(format!(
                "unknown bias init `{s}`: use zeros, const(c), same, uniform(a,b), normal(mean,std) or torch_default"
            )),
        }
    }
}

macro_rules! simple_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $var:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn name(self) -> &'static str { match self { $($name::$var => $text),+ } }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let t = s.trim().to_ascii_lowercase().replace('-', "_");
                $name::ALL.iter().copied().find(|v| v.name() == t).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.name()).collect();
                    ParseError(format!(concat!("unknown ", $what, " `{}`: use one of {}"), s, names.join(", ")))
                })
            }
        }
    };
}

simple_enum!(
    /// The order in which one random stream hands values to parameter positions.
    InitOrder, "init order", {
    /// Layer by layer, neuron by neuron: the neuron's incoming weights, then its bias.
    Neuron => "neuron",
    /// Layer by layer: weights input-major (first incoming weight of every neuron, …), then the bias vector.
    Layer => "layer",
    /// Layer by layer: the bias vector, then the weights neuron by neuron.
    BiasFirst => "bias_first",
});

simple_enum!(
    /// How labels become output targets.
    Targets, "targets", {
    /// One output node per class (the article's two output nodes).
    Onehot => "onehot",
    /// One output node, target = the 0/1 label.
    Binary => "binary",
});

simple_enum!(
    /// Training loss.
    Loss, "loss", {
    /// ½·Σₖ(yₖ−tₖ)² per sample, averaged over the batch.
    Mse => "mse",
    /// Softmax + cross-entropy.
    Ce => "ce",
});

simple_enum!(
    /// Sample order within each epoch.
    SampleOrder, "sample order", {
    Fixed => "fixed",
    /// A fresh permutation every epoch, from the replicate's own shuffle stream.
    Shuffled => "shuffled",
});

/// Batching: one update per sample, one per epoch, or one per `k` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Batch {
    Online,
    Full,
    Size(u32),
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Batch::Online => f.write_str("online"),
            Batch::Full => f.write_str("full"),
            Batch::Size(k) => write!(f, "{k}"),
        }
    }
}

impl FromStr for Batch {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "online" | "sgd" | "1" => Ok(Batch::Online),
            "full" | "all" => Ok(Batch::Full),
            t => match t.parse::<u32>() {
                Ok(0) => err("batch size 0: use online, full or a size ≥ 1"),
                Ok(k) => Ok(Batch::Size(k)),
                Err(_) => err(format!("unknown batch `{s}`: use online, full or an integer size")),
            },
        }
    }
}

impl Batch {
    /// Samples per update for a data set of `n` points.
    pub fn size(self, n: usize) -> usize {
        match self {
            Batch::Online => 1,
            Batch::Full => n,
            Batch::Size(k) => (k as usize).min(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for s in [
            "uniform(-1,1)",
            "normal(0,0.5)",
            "xavier_uniform",
            "he_normal",
            "torch_default",
            "lecun_normal",
        ] {
            assert_eq!(s.parse::<InitDist>().unwrap().to_string(), s);
        }
        for s in ["zeros", "const(0.1)", "same", "uniform(-0.5,0.5)", "normal(0,1)", "torch_default"] {
            assert_eq!(s.parse::<BiasInit>().unwrap().to_string(), s);
        }
        for s in ["relu-sigmoid", "relu:8-sigmoid:3-sigmoid", "tanh-softmax", "leaky_relu-linear"] {
            assert_eq!(s.parse::<Layout>().unwrap().to_string(), s);
        }
        assert_eq!("Uniform( -1 , 1 )".parse::<InitDist>().unwrap().to_string(), "uniform(-1,1)");
        assert_eq!("sigmod-sigmod".parse::<Layout>().unwrap().to_string(), "sigmoid-sigmoid");
        for s in ["online", "full", "3"] {
            assert_eq!(s.parse::<Batch>().unwrap().to_string(), s);
        }
        assert_eq!("bias-first".parse::<InitOrder>().unwrap(), InitOrder::BiasFirst);
    }

    #[test]
    fn bad_values_explain_themselves() {
        let e = "uniform(1,-1)".parse::<InitDist>().unwrap_err();
        assert!(e.0.contains("lower bound"), "{e}");
        let e = "gauss".parse::<InitDist>().unwrap_err();
        assert!(e.0.contains("he_normal"), "{e}");
        let e = "softmax-sigmoid".parse::<Layout>().unwrap_err();
        assert!(e.0.contains("only allowed on the output"), "{e}");
        let e = "relu".parse::<Layout>().unwrap_err();
        assert!(e.0.contains("no hidden layer"), "{e}");
        let e = "relu-sigmoi".parse::<Layout>().unwrap_err();
        assert!(e.0.contains("unknown activation"), "{e}");
        assert!("0".parse::<Batch>().is_err());
        assert!("uniform(0,nan)".parse::<InitDist>().is_err());
        assert!("relu:0-sigmoid".parse::<Layout>().is_err());
    }
}
