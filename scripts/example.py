"""First look at an initgrid result: convergence rate by layout x learning rate.

    python -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    initgrid --config configs/quick.toml --out results/quick
    .venv/bin/python scripts/example.py results/quick --out convergence.png

Prints the convergence rate with its 95 % Wilson interval for every layout x lr
(recomputed from the per-run rows in runs.parquet, then checked against the
per-cell rates in cells.parquet) and draws it as a chart.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import polars as pl

Z = 1.959963984540054  # two-sided 95 %


def wilson(k: pl.Expr, n: pl.Expr) -> list[pl.Expr]:
    """95 % Wilson score interval of k successes in n trials (what initgrid reports)."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * (p * (1 - p) / n + Z**2 / (4 * n**2)).sqrt() / (1 + Z**2 / n)
    return [(centre - half).alias("lo"), (centre + half).alias("hi")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="an initgrid output directory")
    ap.add_argument("--out", type=Path, default=Path("convergence.png"), help="chart (PNG)")
    args = ap.parse_args()

    runs = pl.read_parquet(args.results / "runs.parquet")  # one row per training run
    cells = pl.read_parquet(args.results / "cells.parquet")  # one row per grid cell
    by = ["layout", "lr"]

    # Rates from the raw runs ...
    table = (
        runs.group_by(by)
        .agg(n=pl.len(), k=(pl.col("outcome") == "converged").sum())
        .with_columns(p=pl.col("k") / pl.col("n"))
        .with_columns(wilson(pl.col("k"), pl.col("n")))
        .sort(by)
    )
    # ... must equal the per-cell rates pooled over the other parameters.
    pooled = (
        cells.group_by(by)
        .agg(n_cells=pl.col("n").sum(), p_cells=(pl.col("p_converged") * pl.col("n")).sum() / pl.col("n").sum())
    )
    check = table.join(pooled, on=by, how="full", coalesce=True)
    bad = check.filter(
        (pl.col("n") != pl.col("n_cells")) | ((pl.col("p") - pl.col("p_cells")).abs() > 1e-12)
        | pl.any_horizontal(pl.all().is_null())
    )
    if bad.height:
        raise SystemExit(f"runs.parquet and cells.parquet disagree:\n{bad}")

    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, float_precision=3):
        print(f"convergence rate by layout x lr ({runs.height} runs, 95 % Wilson interval):")
        print(table)

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for i, ((layout,), g) in enumerate(table.group_by("layout", maintain_order=True)):
        ax.errorbar(
            g["lr"] * 1.03**i,  # nudge each layout sideways so equal rates stay visible
            g["p"], yerr=[g["p"] - g["lo"], g["hi"] - g["p"]],
            marker="o", capsize=4, label=layout,
        )
    lrs = table["lr"].unique().sort()
    ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="learning rate",
           ylabel="P(converged), 95 % Wilson interval", title=f"{args.results.name}: convergence rate")
    ax.set_xticks(lrs, [f"{x:g}" for x in lrs])
    ax.minorticks_off()
    ax.legend(title="layout")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
