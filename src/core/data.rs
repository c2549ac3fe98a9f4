//! Data sets: the article's presets and inline data from the config.

use super::spec::ParseError;

/// A small labelled data set. Inputs are stored row-major (`n × dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Preset name or the config's `[datasets.NAME]` key.
    pub name: String,
    pub dim: usize,
    pub inputs: Vec<f64>,
    pub labels: Vec<u32>,
    /// Number of classes (output nodes with one-hot targets).
    pub classes: usize,
}

/// Names of the built-in data sets.
pub const PRESETS: [&str; 5] = ["two", "three", "four", "five", "xor"];

impl Dataset {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Input vector of point `s`.
    pub fn x(&self, s: usize) -> &[f64] {
        &self.inputs[s * self.dim..(s + 1) * self.dim]
    }

    /// One of the article's data sets (1-D input on [0,1], alternating labels) or 2-D XOR.
    pub fn preset(name: &str) -> Option<Dataset> {
        let pts: &[(f64, u32)] = match name {
            "two" => &[(0.0, 0), (1.0, 1)],
            "three" => &[(0.0, 0), (0.5, 1), (1.0, 0)],
            "four" => &[(0.0, 0), (0.3, 1), (0.6, 0), (1.0, 1)],
            "five" => &[(0.0, 0), (0.25, 1), (0.5, 0), (0.75, 1), (1.0, 0)],
            "xor" => {
                return Some(Dataset {
                    name: "xor".into(),
                    dim: 2,
                    inputs: vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
                    labels: vec![0, 1, 1, 0],
                    classes: 2,
                });
            }
            _ => return None,
        };
        Some(Dataset {
            name: name.into(),
            dim: 1,
            inputs: pts.iter().map(|p| p.0).collect(),
            labels: pts.iter().map(|p| p.1).collect(),
            classes: 2,
        })
    }

    /// Builds a data set from rows `[x₁, …, x_d, label]`. `classes` defaults to max(label)+1 (≥ 2).
    /// Errors name the offending row (1-based) and say how to fix it.
    pub fn from_rows(name: &str, rows: &[Vec<f64>], classes: Option<usize>) -> Result<Dataset, ParseError> {
        let fail = |m: String| Err(ParseError(format!("data set `{name}`: {m}")));
        if rows.is_empty() {
            return fail("no points: give `points = [[x, label], …]`".into());
        }
        let width = rows[0].len();
        if width < 2 {
            return fail("point 1 has no input: write each point as [x₁, …, x_d, label]".into());
        }
        let dim = width - 1;
        let mut inputs = Vec::with_capacity(rows.len() * dim);
        let mut labels = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            if r.len() != width {
                return fail(format!(
                    "point {} has {} values but point 1 has {width}: every point needs the same input dimension {dim} plus a label",
                    i + 1,
                    r.len()
                ));
            }
            if let Some(v) = r.iter().find(|v| !v.is_finite()) {
                return fail(format!("point {} contains {v}: all values must be finite numbers", i + 1));
            }
            let l = r[dim];
            if l < 0.0 || l.fract() != 0.0 || l > u32::MAX as f64 {
                return fail(format!(
                    "point {} has label {l}: labels must be non-negative integers (0, 1, …)",
                    i + 1
                ));
            }
            inputs.extend_from_slice(&r[..dim]);
            labels.push(l as u32);
        }
        let max_label = *labels.iter().max().expect("non-empty") as usize;
        let classes = match classes {
            Some(c) => {
                if c < 2 {
                    return fail(format!("classes = {c}: need at least 2"));
                }
                if max_label >= c {
                    let i = labels.iter().position(|&l| l as usize >= c).expect("exists");
                    return fail(format!(
                        "point {} has label {} outside the {c} classes 0..={}: fix the label or raise `classes`",
                        i + 1,
                        labels[i],
                        c - 1
                    ));
                }
                c
            }
            None => (max_label + 1).max(2),
        };
        Ok(Dataset {
            name: name.into(),
            dim,
            inputs,
            labels,
            classes,
        })
    }

    /// Number of label changes along the points in their given order (the "alternations" that
    /// a 1-D network must carve out).
    pub fn alternations(&self) -> usize {
        self.labels.windows(2).filter(|w| w[0] != w[1]).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_article() {
        let four = Dataset::preset("four").unwrap();
        assert_eq!(four.inputs, vec![0.0, 0.3, 0.6, 1.0]);
        assert_eq!(four.labels, vec![0, 1, 0, 1]);
        assert_eq!(Dataset::preset("five").unwrap().alternations(), 4);
        assert_eq!(Dataset::preset("xor").unwrap().x(2), &[1.0, 0.0]);
        for p in PRESETS {
            assert!(Dataset::preset(p).is_some());
        }
    }

    #[test]
    fn inline_rows_are_checked() {
        let ok = Dataset::from_rows("d", &[vec![0.0, 0.0], vec![1.0, 2.0]], None).unwrap();
        assert_eq!(ok.classes, 3);
        let e = Dataset::from_rows("d", &[vec![0.0, 0.0], vec![1.0, f64::NAN, 1.0]], None).unwrap_err();
        assert!(e.0.contains("point 2 has 3 values"), "{e}");
        let e = Dataset::from_rows("d", &[vec![0.0, 0.0], vec![f64::NAN, 1.0]], None).unwrap_err();
        assert!(e.0.contains("point 2 contains NaN"), "{e}");
        let e = Dataset::from_rows("d", &[vec![0.0, 0.0], vec![1.0, 2.0]], Some(2)).unwrap_err();
        assert!(e.0.contains("outside the 2 classes"), "{e}");
        let e = Dataset::from_rows("d", &[vec![0.0, 0.5]], None).unwrap_err();
        assert!(e.0.contains("non-negative integers"), "{e}");
    }
}
