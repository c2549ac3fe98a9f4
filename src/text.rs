//! Text formatting shared by the commands and documents: aligned tables, CSV fields,
//! durations, p-values and percentages.

pub(crate) fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// Aligned plain-text or markdown table.
pub(crate) fn render_table(header: &[String], rows: &[Vec<String>], markdown: bool) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        if markdown {
            format!("| {} |", parts.join(" | "))
        } else {
            parts.join("  ").trim_end().to_string()
        }
    };
    let mut s = line(header);
    s.push('\n');
    if markdown {
        let seps: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
        s.push_str(&format!("|-{}-|\n", seps.join("-|-")));
    } else {
        s.push_str(&"-".repeat(w.iter().sum::<usize>() + 2 * (w.len() - 1)));
        s.push('\n');
    }
    for r in rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    s
}

/// A duration for people: `12.3 s`, `4.5 min`, `2.0 h`.
pub(crate) fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// A p-value that is never printed as zero: `0.057`, `3.2e-5`, `< 1e-300`.
pub(crate) fn fmt_p(p: f64) -> String {
    if p.is_nan() {
        "n/a".into()
    } else if p < 1e-300 {
        "< 1e-300".into()
    } else if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// A parameter value for people: fixed point with 5 decimals where that is readable
/// (1e-4 ≤ |x| < 1e5, or 0), else scientific — never a 300-digit number. Sign always shown.
pub(crate) fn fmt_param(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a == 0.0 || (1e-4..1e5).contains(&a) {
        format!("{x:+.5}")
    } else {
        format!("{x:+.5e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_print_short_at_every_magnitude() {
        assert_eq!(fmt_param(1.5), "+1.50000");
        assert_eq!(fmt_param(-0.00012), "-0.00012");
        assert_eq!(fmt_param(0.0), "+0.00000");
        assert_eq!(fmt_param(-1.2345e200), "-1.23450e200");
        assert_eq!(fmt_param(3e-7), "+3.00000e-7");
        assert_eq!(fmt_param(99_999.0), "+99999.00000");
        assert_eq!(fmt_param(1e5), "+1.00000e5");
        assert_eq!(fmt_param(f64::INFINITY), "+inf");
        assert_eq!(fmt_param(f64::NAN), "NaN");
        assert!(fmt_param(f64::MAX).len() < 16);
    }

    #[test]
    fn p_values_are_never_zero() {
        assert_eq!(fmt_p(0.0), "< 1e-300");
        assert_eq!(fmt_p(1e-320), "< 1e-300");
        assert_eq!(fmt_p(3.2e-5), "3.2e-5");
        assert_eq!(fmt_p(0.0004), "4.0e-4");
        assert_eq!(fmt_p(0.0567), "0.057");
        assert_eq!(fmt_p(1.0), "1.000");
        for p in [1e-299, 1e-10, 0.0009, 0.001] {
            assert!(fmt_p(p).chars().any(|c| ('1'..='9').contains(&c)), "{p} → {}", fmt_p(p));
        }
    }

    #[test]
    fn tables_align() {
        let t = render_table(&["a".into(), "bb".into()], &[vec!["xxx".into(), "y".into()]], false);
        assert_eq!(t, "a    bb\n-------\nxxx  y\n");
        assert!(render_table(&["a".into()], &[vec!["1".into()]], true).starts_with("| a |"));
    }
}
