"""Every figure the tiny and quick presets build (and the paper's config, with 2 seeds) reads
cleanly: no two texts overlap, no text leaves its figure, and every empty panel says which config
key (or data set) leaves it empty and how to get it. Drawn from synthetic tidy tables shaped like
each preset's (no training) and, for the example figures, random images in each preset's rows."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from synthetic_results import tidy_tables

from invtransfer import example_figures, plots
from invtransfer.artifacts import ARTIFACTS, Inputs
from invtransfer.config import load_config
from invtransfer.experiments import build_plan
from invtransfer.reporting import (
    artifact_settings,
    artifact_tables,
    final_targets,
    frames_by_kind,
)

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {
    "tiny": [ROOT / "config.yaml", ROOT / "profiles/tiny/overrides.yaml"],
    "quick": [ROOT / "config.yaml", ROOT / "profiles/quick/overrides.yaml"],
}
TOLERANCE_PX = 1.0  # shared edges of adjacent boxes are not an overlap


def _drawn_texts(fig: Figure) -> list[Text]:
    """The texts the renderer draws: titles, labels, visible tick labels (only ticks inside the
    view), legend texts, annotations and figure texts."""
    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) else fig.canvas
    canvas.draw()
    texts: list[Text] = list(fig.texts)
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    legends = list(fig.legends)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += list(ax.texts)
        if not ax.axison:  # ax.axis("off"): no title? titles stay; ticks and labels are hidden
            texts += [ax.title, ax._left_title, ax._right_title]
            continue
        texts += [ax.title, ax._left_title, ax._right_title]
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():
                continue
            texts.append(axis.label)
            for tick in axis._update_ticks():
                texts += [t for t in (tick.label1, tick.label2) if t.get_visible()]
            texts.append(axis.offsetText)
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for legend in legends:
        if legend.get_visible():
            texts += [*legend.get_texts(), legend.get_title()]
    unique = {id(t): t for t in texts}  # the suptitle is also one of fig.texts
    return [t for t in unique.values() if t.get_visible() and t.get_text().strip()]


def layout_problems(fig: Figure) -> list[str]:
    """Pairs of overlapping texts and texts outside the figure, described for a failure message."""
    texts = _drawn_texts(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    width, height = fig.bbox.width, fig.bbox.height
    problems = []
    for t, b in boxes:
        if (
            b.x0 < -TOLERANCE_PX
            or b.y0 < -TOLERANCE_PX
            or b.x1 > width + TOLERANCE_PX
            or (b.y1 > height + TOLERANCE_PX)
        ):
            problems.append(
                f"outside the figure ({width:.0f}×{height:.0f} px): {t.get_text()!r} at {b.bounds}"
            )
    for (t1, b1), (t2, b2) in itertools.combinations(boxes, 2):
        if (
            min(b1.x1, b2.x1) - max(b1.x0, b2.x0) > TOLERANCE_PX
            and min(b1.y1, b2.y1) - max(b1.y0, b2.y0) > TOLERANCE_PX
        ):
            problems.append(f"overlap: {t1.get_text()!r} and {t2.get_text()!r}")
    return problems


def _not_run_texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in _drawn_texts(fig) if t.get_text().startswith("not run")]


def _preset(name: str):
    if name == "paper":  # the paper's config with 2 seeds: CIFAR panels, 5 architectures
        cfg = load_config(ROOT / "config.yaml", overrides={"seeds": 2})
    else:
        cfg = load_config(*PRESETS[name])
    plan = build_plan(cfg)
    return name, cfg, plan, tidy_tables(cfg, plan)


@pytest.fixture(scope="module", params=[*sorted(PRESETS), "paper"])
def any_preset(request):
    return _preset(request.param)


def _draw(name, cfg, plan, tables, tmp_path, monkeypatch) -> list[Figure]:
    """Render artifact ``name`` the way the workflow does, keeping the figures it saves."""
    entry = ARTIFACTS[name]
    figures: list[Figure] = []

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return None

    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(example_figures, "save_figure", keep)
    settings = artifact_settings(name, cfg, plan)
    if entry.kind == "example":  # random images in the preset's rows: the layout is what counts
        gen = np.random.default_rng(0)
        settings = {"panels": {
            panel: {row: gen.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8) for row in rows}
            for panel, rows in settings["panels"].items()
        }}  # fmt: skip
    keys = artifact_tables(name, cfg, plan)
    frames = frames_by_kind({k: tables[k] for k in keys})
    with mpl.rc_context({"figure.max_open_warning": 0}):
        entry.render(Inputs(frames, settings, tmp_path / f"{name}.pdf"))
    assert figures, f"{name}: nothing drawn"
    return figures


# The paper's config adds figures whose layout the presets do not reach: the CIFAR examples
# (Fig 6, 15), CIFAR factor panels with five architectures and "per class" sample counts (Fig 7;
# Fig 8-11 are drawn by the same code), fine-tuning differences (Fig 12; as Fig 13), the IFE
# sweeps (Fig 14) and the three-architecture mismatch panels (Fig 18).
PAPER_FIGURES = ["fig6", "fig7", "fig12", "fig14", "fig15", "fig18"]


def test_every_figure_reads_cleanly_and_names_what_is_missing(any_preset, tmp_path, monkeypatch):
    preset_name, cfg, plan, tables = any_preset
    names = [Path(t).stem for t in final_targets(cfg, plan) if t.startswith("figures/")]
    if preset_name == "paper":
        assert set(PAPER_FIGURES) <= set(names)
        names = PAPER_FIGURES
    elif preset_name == "quick":  # both fine-tuning regimes: Fig 9, 12, 13 too
        assert names == ["fig1", "fig2", "fig3", "fig4", "fig5", "fig9", "fig12", "fig13",
                         "fig16", "fig17"]  # fmt: skip
    else:
        assert names == ["fig1", "fig2", "fig3", "fig4", "fig5", "fig16", "fig17"]
    failures, not_run = {}, []
    for name in names:
        for fig in _draw(name, cfg, plan, tables, tmp_path, monkeypatch):
            problems = layout_problems(fig)
            if problems:
                failures[name] = problems[:6]
            not_run += [(name, " ".join(t.split())) for t in _not_run_texts(fig)]
    assert not failures, failures
    # every empty panel says which config key leaves it empty and how to get it
    for name, text in not_run:
        assert "experiments." in text, (name, text)
        assert "(add it" in text or "(set it" in text or "(list" in text, (name, text)
    # Fig 3's CIFAR panels (quick: Fig 12 and 13's too)
    expected = {"tiny": 2, "quick": 6, "paper": 0}[preset_name]
    assert len(not_run) == expected, not_run


def test_fig3_cifar_panels_give_the_tvo_reason(tmp_path, monkeypatch):
    cfg = load_config(*PRESETS["quick"])
    plan = build_plan(cfg)
    (fig,) = _draw("fig3", cfg, plan, tidy_tables(cfg, plan), tmp_path, monkeypatch)
    texts = [" ".join(t.split()) for t in _not_run_texts(fig)]
    assert texts == [
        "not run: cifar10 is not in experiments.tvo.families (add it; needs CIFAR-10: "
        "cifar-10-batches-py/ in assets.cifar.path (or $INVTRANSFER_CIFAR_DIR), or "
        "assets.cifar.download: true)",
        "not run: cifar100 is not in experiments.tvo.families (add it; needs CIFAR-100: "
        "cifar-100-python/ in assets.cifar.path (or $INVTRANSFER_CIFAR_DIR), or "
        "assets.cifar.download: true)",
    ]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert [" ".join(t.split()) for t in ticks] == ["Class Rel.", "Architecture", "PT Samples"]


def test_the_checker_finds_overlaps_and_escapes():
    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.subplots()
    ax.set_xticks(range(4), ["a long tick label here", "another long tick label", "c", "d"])
    assert layout_problems(fig)[0] == (
        "overlap: 'a long tick label here' and 'another long tick label'"
    )
    fig = Figure(figsize=(3, 2))
    fig.text(0.9, 0.5, "this text runs off the right edge")
    assert [p.split(":")[0] for p in layout_problems(fig)] == ["outside the figure (300×200 px)"]
    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.subplots()
    ax.set_title("fine")
    ax.set_xticks([0, 1], ["a", "b"])
    assert layout_problems(fig) == []
