"""The results folder of an evaluation: the per-image scores, the metrics table (CSV and
Markdown, with the identification rates' 95% intervals) and the paper's Figs. 1-5, written from
the :class:`~refacing_lib.evaluate.evaluation.Evaluation` of each experiment and anonymization.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .evaluation import Evaluation
from .metrics import site_means
from .reidentify import MIN_PROBES

__all__ = ["write_results"]


def _markdown(table: pd.DataFrame) -> str:
    """A pandas table as a Markdown table: whole numbers as integers, others with 3 decimals."""
    def cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, float) and not value.is_integer():
            return f"{value:.3f}"
        return str(int(value)) if isinstance(value, float) else str(value)

    cells = table.map(cell)
    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.to_numpy()]
    return "\n".join(lines) + "\n"


def _displayed(row: dict) -> dict:
    """A metrics row for the Markdown table: each identification rate with its 95% interval
    in one cell (``0.333 [0.008, 0.906]``), marked when there are too few probes."""
    shown = {}
    for key, value in row.items():
        if key.endswith((" 95% low", " 95% high")):
            continue
        bounds = (row.get(f"{key} 95% low"), row.get(f"{key} 95% high"))
        if bounds[0] is not None:
            value = f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"
            if row["probes"] < MIN_PROBES:
                value += " (not meaningful)"
        shown[key] = value
    return shown


def _header(evaluations: list[Evaluation], few: bool) -> str:
    """The title and the paragraph that explains the metrics table, ending in a blank line."""
    render = next((ev.render for ev in evaluations if ev.render is not None), None)
    return (
        "# Refacing results\n\nMeans over the test images; correlation and SSIM on the front "
        "half of each image (`_changed`: only the pixels the anonymization changed); "
        "`mae_changed` and `mae_unchanged`: mean absolute difference from the original over "
        "the pixels the anonymization changed and over all the others, in the images' [-1, 1] "
        "units (lower is closer). Identification rates of the 2-D profile attack (gallery: "
        f"{evaluations[0].gallery}) with their exact binomial 95% interval; chance is k / "
        "gallery."
        + (" Rows marked `(face recognition)`: the render attack, dlib's face recognition on "
           "renders of the whole heads' skin (original, anonymized and refaced heads; gallery: "
           f"{render['gallery from'].iloc[0]}; `faces found`: the fraction of heads with a "
           "face in at least one view; per head: `render_heads_*.csv`)."
           if render is not None else "")
        + (f" **With fewer than {MIN_PROBES} probes (test subjects) a rate is not meaningful**: "
           "one subject moves it by more than 10 points." if few else "") + "\n\n")


def write_results(evaluations: list[Evaluation], out: str | Path) -> Path:
    """Write the results folder of one or more evaluations.

    ``out/metrics.csv`` and ``out/metrics.md`` (one row per experiment and anonymization:
    :meth:`Evaluation.summary`), ``out/scores_{experiment}-{method}.csv`` (per test image),
    ``out/site_means_{experiment}-{method}.csv``, ``out/render_heads_{experiment}-{method}.csv``
    (what the render attack found per head, when run), and the paper's figures
    ``fig1_blur.png`` / ``fig2_remove.png`` (original, anonymized, refaced test slices per
    experiment), ``fig3_slices.png`` (all 21 slices of one test subject, blurred if a
    blurring run was evaluated, Guy's first),
    ``fig4_guys.png`` / ``fig5_all.png`` (per-image correlation and SSIM with per-site
    means), and ``fig6_surfaces.png`` when a head was refaced
    (:func:`~refacing_lib.evaluate.evaluation.evaluate_volume`);
    figures only for the experiments evaluated.

    Returns
    -------
    pathlib.Path
        The Markdown table.
    """
    import matplotlib.pyplot as plt

    from refacing_lib.viz import plotting, surfaces

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for ev in evaluations:
        ev.scores.to_csv(out / f"scores_{ev.name}.csv", index=False)
        columns = [c for c in ev.scores.columns if c.startswith(("anonymized ", "refaced "))]
        site_means(ev.scores[["site", *columns]]).to_csv(out / f"site_means_{ev.name}.csv")
        if ev.render_heads is not None:
            ev.render_heads.to_csv(out / f"render_heads_{ev.name}.csv", index=False)
    table = pd.DataFrame([ev.summary() for ev in evaluations])
    table.to_csv(out / "metrics.csv", index=False)
    markdown = out / "metrics.md"
    shown = pd.DataFrame([_displayed(row) for row in table.to_dict("records")])
    few = int(table["probes"].min()) < MIN_PROBES
    markdown.write_text(
        _header(evaluations, few)
        + _markdown(shown.set_index(shown["experiment"] + "-" + shown["method"])
                    .drop(columns=["experiment", "method"]).T
                    .rename_axis("measure").reset_index()))
    for number, method in ((1, "blur"), (2, "remove")):
        chosen = {ev.experiment: ev.examples() for ev in evaluations if ev.method == method}
        if chosen:
            fig = plotting.plot_triplets({k: v[0] for k, v in chosen.items()},
                                         {k: v[1] for k, v in chosen.items()})
            fig.savefig(out / f"fig{number}_{method}.png", dpi=150)
            plt.close(fig)
    blur = sorted((ev for ev in evaluations if ev.method == "blur"),
                  key=lambda ev: ev.experiment != "guys")      # the paper's: Guy's, blurred
    first = (blur or evaluations)[0]
    subject = first.scores["name"].iloc[0]
    images, titles = first.examples(subject=subject)
    fig = plotting.plot_triplets({f"{first.name}, {subject}": images},
                                 {f"{first.name}, {subject}": titles}, size=1.0)
    fig.savefig(out / "fig3_slices.png", dpi=150)
    plt.close(fig)
    for number, experiment in ((4, "guys"), (5, "all")):
        chosen = [ev for ev in evaluations if ev.experiment == experiment]
        if chosen:
            fig = plotting.plot_method_scores({ev.method: ev.scores for ev in chosen})
            fig.savefig(out / f"fig{number}_{experiment}.png", dpi=150)
            plt.close(fig)
    with_volume = [ev for ev in evaluations if ev.volume is not None]
    if with_volume:
        fig = surfaces.plot_surfaces({ev.name: ev.volume for ev in with_volume})
        fig.savefig(out / "fig6_surfaces.png", dpi=120)
        plt.close(fig)
    return markdown
