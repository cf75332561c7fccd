"""The paper's artifacts, one registry entry each: what it is, what it reads, how it is drawn.

An :class:`Artifact` is a figure, a table, an example-image figure or the scorecard. Its entry says
everything the workflow and the report need about it:

* ``name``, ``kind`` (which rule builds it: ``figure`` → ``figures/<name>.pdf`` + ``.png``,
  ``table`` → ``tables/<name>.{md,tex,csv}``, ``example`` → an example-image figure,
  ``scorecard`` → ``tables/scorecard.{md,csv}``), ``title`` and ``caption`` (the report's text);
* ``tables(ctx)``: the tidy tables (``results/tables/<key>.csv``) it is drawn from;
* ``settings(ctx)``: the few config-derived values its drawing uses (architecture, labels, why
  panels are empty), JSON-serialisable — the report rules get these and nothing else of the config,
  so an unrelated config edit never reruns a figure;
* ``render(inputs)``: draws it with a plot/table function (imported lazily: the workflow imports
  this module at parse time);
* ``panels``: the paper panels whose printed numbers the scorecard compares (``fig2a`` …), with
  where their numbers come from.

Adding a paper artifact is one entry here plus its plot function. ``ctx`` is a :class:`Context`
(what :class:`invtransfer.reporting.ReportContext` gives: the config and plan, with derived
values); the machinery that evaluates entries (targets, wildcard patterns, reading tables,
rendering) lives in :mod:`invtransfer.reporting`, which imports this module, never the reverse.
The scorecard (:mod:`invtransfer.scorecard`) gets :data:`PANELS` from its entry here.

One module on purpose, though it is longer than most: it is the registry, and an entry is read
as a whole (name, caption, tables, settings, renderer, panels). Splitting the entries over
several files would scatter the one list a newcomer should find in one place; what is not an
entry (the types above them, ~90 lines) is too small to stand alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from invtransfer.aggregation import IFE_LABELS, IT_EVALS, TVO_FACTORS
from invtransfer.scorecard import Panel, render_scorecard

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ARTIFACTS", "KINDS", "PANELS", "Artifact", "Context", "Inputs"]

Kind = Literal["figure", "table", "example", "scorecard"]
KINDS: tuple[str, ...] = ("figure", "table", "example", "scorecard")


class Context(Protocol):
    """What an entry's ``tables``, ``settings`` and ``built`` read from a configuration (and
    its plan): :class:`invtransfer.reporting.ReportContext` implements it."""

    def reason(self, key: str) -> str | None: ...
    def resolve(self, arch: str) -> str: ...
    def archs(self, family: str, *, resolved: bool = True) -> list[str]: ...
    def first(self, family: str) -> str | None: ...
    def arch_label(self, arch: str) -> str: ...
    def arch_labels(self, archs: Sequence[str], *, short: bool = False) -> dict[str, str]: ...
    def it_transforms_note(self) -> str | None: ...
    def uses_cifar(self) -> bool: ...
    def example_specs(self, name: str) -> dict[str, dict[str, dict]]: ...
    def all_tables(self) -> list[str]: ...
    def scorecard_settings(self) -> dict[str, Any]: ...


@dataclass
class Inputs:
    """What a renderer gets: the tidy tables (concatenated per kind), the entry's settings and the
    output path."""

    frames: Mapping[str, pd.DataFrame]  # kind (tvo, it, tm, ife, ife_sens) -> frame
    settings: Mapping[str, Any]
    out: Path

    @property
    def stem(self) -> Path:
        return self.out.with_suffix("")

    def frame(self, kind: str) -> pd.DataFrame:
        """The tidy table of ``kind``, or an empty one with its schema when the run has none."""
        if kind in self.frames:
            return self.frames[kind]
        import pandas as pd

        from invtransfer.aggregation import SCHEMAS

        return pd.DataFrame(columns=list(SCHEMAS[kind]))


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: Kind
    title: str  # "Figure 2 -- Invariance vs other factors on Transforms-2D (linear probe)"
    caption: str  # reStructuredText, shown after the title in the report
    tables: Callable[[Context], list[str]]
    settings: Callable[[Context], dict[str, Any]]
    render: Callable[[Inputs], Any]
    panels: Mapping[str, Panel] = field(default_factory=dict)
    # Whether ``rule all`` builds it; None: when the plan has any of its tables.
    built: Callable[[Context], bool] | None = None

    @property
    def outputs(self) -> list[str]:
        if self.kind in ("table", "scorecard"):
            stem = f"tables/{self.name}"
            extra = [f"{stem}.tex"] if self.kind == "table" else [f"{stem}_claims.csv"]
            return [f"{stem}.md", f"{stem}.csv", *extra]
        return [f"figures/{self.name}.pdf", f"figures/{self.name}.png"]

    @property
    def target(self) -> str:
        """The file that stands for the artifact (``figures/fig2.pdf``, ``tables/table2.md``)."""
        return self.outputs[0]

    @property
    def caption_rst(self) -> str:
        return f"**{self.title}.** {' '.join(self.caption.split())}"


_FAMILY = {"t2d": "Transforms-2D", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_REGIME = {"lp": "linear probe", "ft-low": "fine-tuning (low data)",
           "ft-high": "fine-tuning (high data)"}  # fmt: skip
TVO_FAMILY_ORDER = ("t2d", "cifar10", "cifar100")


def _present(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# ----------------------------------------------------------------------------------------------
# recipes shared by several entries


def _tvo_factors(name: str, family: str, regime: str, title: str, caption: str) -> Artifact:
    """Fig. 2, 7, 8 (linear probe) and 9, 10, 11 (low-data fine-tuning): three factor panels."""
    letters = dict(zip(TVO_FACTORS, "abc", strict=True))

    def settings(ctx: Context) -> dict[str, Any]:
        return {
            # tick labels; TvO factor values are the config's names ("densenet")
            "labels": ctx.arch_labels(ctx.archs("tvo", resolved=False), short=True),
            "reasons": _present({f: ctx.reason(f"{name}{letters[f]}") for f in TVO_FACTORS}),
        }

    def render(inp: Inputs) -> None:
        from invtransfer import plots

        plots.fig_tvo_factors(inp.frame("tvo"), family, regime, inp.stem,
                              labels=inp.settings["labels"], reasons=inp.settings["reasons"])  # fmt: skip

    panels = {
        f"{name}{letters[f]}": Panel(
            "tvo", f"Fig. {name[3:]}{letters[f]} — {_FAMILY[family]}, {_REGIME[regime]}, {f}",
            {"family": family, "regime": regime, "factor": f},
        )
        for f in TVO_FACTORS
    }  # fmt: skip
    return Artifact(name, "figure", title, caption, lambda ctx: [f"tvo_{family}_{regime}"],
                    settings, render, panels)  # fmt: skip


def _tvo_diff(name: str, regime: str, title: str, caption: str) -> Artifact:
    """Fig. 3 (linear probe), 12 and 13 (fine-tuning): one panel per family."""
    letters = dict(zip(TVO_FAMILY_ORDER, "abc", strict=True))

    def settings(ctx: Context) -> dict[str, Any]:
        return {"reasons": _present({f: ctx.reason(f"{name}{letters[f]}") for f in letters})}

    def render(inp: Inputs) -> None:
        from invtransfer import plots

        plots.fig_tvo_diff(inp.frame("tvo"), regime, inp.stem, reasons=inp.settings["reasons"])

    panels = {
        f"{name}{letter}": Panel(
            "tvo", f"Fig. {name[3:]}{letter} — differences, {_FAMILY[fam]}, {_REGIME[regime]}",
            {"family": fam, "regime": regime},
        )
        for fam, letter in letters.items()
    }  # fmt: skip
    if regime == "ft-high":
        # The paper draws no factor curves for high-data fine-tuning (only Fig. 13's bars); App.
        # C.2's "same at least as good as disjoint, in all cases" is checked on the curves behind
        # each bar: fig13a:class_rel, … (no paper numbers, claims only).
        for fam, letter in letters.items():
            for f in TVO_FACTORS:
                panels[f"{name}{letter}:{f}"] = Panel(
                    "tvo", f"Fig. 13{letter} (curves behind the bars) — {_FAMILY[fam]}, "
                    f"{_REGIME[regime]}, {f}", {"family": fam, "regime": regime, "factor": f},
                )  # fmt: skip
    return Artifact(
        name, "figure", title, caption,
        lambda ctx: [f"tvo_{f}_{regime}" for f in TVO_FAMILY_ORDER], settings, render, panels,
    )  # fmt: skip


def _it_table(name: str, arch: str | None, panel: str, title: str, caption: str) -> Artifact:
    """Table 2 (``arch=None``: the IT experiment's first architecture) and Tables 3-5."""

    def arch_of(ctx: Context) -> str | None:
        return ctx.first("it") if arch is None else ctx.resolve(arch)

    def settings(ctx: Context) -> dict[str, Any]:
        a = arch_of(ctx) or "resnet18"
        reasons = {ev: ctx.reason(f"{name}:{ev}") for ev in IT_EVALS}
        reasons["*"] = ctx.reason(name)
        return {"arch": a, "label": ctx.arch_label(a), "reasons": _present(reasons)}

    def render(inp: Inputs) -> None:
        from invtransfer import tables

        s = inp.settings
        reasons = dict(s["reasons"])
        whole = reasons.pop("*", None)
        if whole:
            reasons.update({ev: whole for ev in IT_EVALS if ev not in reasons})
        result = tables.table_it(inp.frame("it"), s["arch"], reasons=reasons,
                                 arch_label=s["label"], name=f"Table {name[5:]}")  # fmt: skip
        tables.write_table(result, inp.stem)

    return Artifact(
        name, "table", title, caption,
        lambda ctx: [f"it_{a}"] if (a := arch_of(ctx)) else [], settings, render,
        {name: Panel("it", panel, {"arch": arch or "resnet18"})},
    )  # fmt: skip


def _it_heatmap(name: str, model_type: str, title: str, caption: str) -> Artifact:
    """Fig. 16 (image models) and 17 (random models), the IT experiment's first architecture."""

    def settings(ctx: Context) -> dict[str, Any]:
        arch = ctx.first("it") or "resnet18"
        return _present({
            "arch": arch, "label": ctx.arch_label(arch), "reason": ctx.reason(name),
            "cells_reason": ctx.it_transforms_note(),
        })  # fmt: skip

    def render(inp: Inputs) -> None:
        from invtransfer import plots

        s = inp.settings
        plots.fig_it_heatmap(inp.frame("it"), model_type, inp.stem, arch=s["arch"],
                             arch_label=s["label"], reason=s.get("reason"),
                             cells_reason=s.get("cells_reason"))  # fmt: skip

    panel = Panel("it", f"Fig. {name[3:]} — sens heatmap, RN18 {model_type} models, in-distribution",
                  {"arch": "resnet18", "model_type": model_type})  # fmt: skip
    return Artifact(
        name, "figure", title, caption,
        lambda ctx: [f"it_{a}"] if (a := ctx.first("it")) else [], settings, render, {name: panel},
    )  # fmt: skip


def _example(name: str, title: str, caption: str, *, cifar: bool) -> Artifact:
    """Example-image figures: drawn from dataset specs (first images, built in memory)."""

    def render(inp: Inputs) -> None:
        from invtransfer import example_figures as ex

        p = inp.settings["panels"]
        if name == "fig1":
            ex.fig1(inp.out, p["rows"], object_label=0)
        elif name == "fig5":
            ex.fig5(inp.out, p["rows"], object_label=0)
        elif name == "fig6":
            ex.fig6(inp.out, p["rows"]["cifar"], p["rows"]["cifar_objects"], p["rows"]["objects"])
        else:
            ex.fig15(inp.out, p["random"], p["cifar"])

    return Artifact(
        name, "example", title, caption, lambda ctx: [],
        lambda ctx: {"panels": ctx.example_specs(name)}, render,
        built=(lambda ctx: ctx.uses_cifar()) if cifar else (lambda ctx: True),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------
# the entries that are not one of the families above


def _fig4() -> Artifact:
    def settings(ctx: Context) -> dict[str, Any]:
        arch = ctx.first("tm") or "resnet18"
        return {"arch": arch, "labels": ctx.arch_labels([arch]),
                "reasons": _present({arch: ctx.reason("fig4")})}  # fmt: skip

    def render(inp: Inputs) -> None:
        from invtransfer import plots

        s = inp.settings
        plots.fig_tm(inp.frame("tm"), s["arch"], inp.stem, labels=s["labels"], reasons=s["reasons"])

    return Artifact(
        "fig4", "figure", "Figure 4 -- Invariance mismatch, ResNet-18",
        """Models pretrained on nested transformation sets T_1 ⊂ … ⊂ T_k and probed on data with
        T_j: transfer accuracy vs the number of target transformations, one line per number of
        training transformations. A superset of the needed invariances costs nothing; each missing
        one lowers transfer accuracy.""",
        lambda ctx: [f"tm_{a}"] if (a := ctx.first("tm")) else [], settings, render,
        {"fig4": Panel("tm", "Fig. 4 — invariance mismatch, ResNet-18", {"arch": "resnet18"})},
    )  # fmt: skip


_FIG18 = {"fig18a": "vgg11", "fig18b": "densenet", "fig18c": "vit"}


def _fig18() -> Artifact:
    def archs(ctx: Context) -> list[str]:
        return [ctx.resolve(a) for a in _FIG18.values()]

    def tables(ctx: Context) -> list[str]:
        # the first TM architecture draws Fig. 4; the paper's other three draw Fig. 18
        return [f"tm_{a}" for a in ctx.archs("tm")[1:] if a in archs(ctx)]

    def settings(ctx: Context) -> dict[str, Any]:
        return {
            "archs": archs(ctx),
            "labels": ctx.arch_labels(archs(ctx)),
            "reasons": _present({ctx.resolve(a): ctx.reason(p) for p, a in _FIG18.items()}),
        }

    def render(inp: Inputs) -> None:
        from invtransfer import plots

        s = inp.settings
        plots.fig_tm(inp.frame("tm"), s["archs"], inp.stem, labels=s["labels"],
                     reasons=s["reasons"])  # fmt: skip

    names = {"vgg11": "VGG-11", "densenet": "DenseNet", "vit": "ViT"}
    panels = {p: Panel("tm", f"Fig. {p[3:]} — invariance mismatch, {names[a]}", {"arch": a})
              for p, a in _FIG18.items()}  # fmt: skip
    return Artifact(
        "fig18", "figure", "Figure 18 -- Invariance mismatch, other architectures",
        """As Figure 4 for VGG-11, DenseNet and ViT: missing invariances hurt transfer, extra ones
        do not.""",
        tables, settings, render, panels,
    )  # fmt: skip


_FIG14 = (("a", "relevance", "C+O/C"), ("b", "relevance", "C+O/O"),
          ("c", "availability", "C+O/C"), ("d", "availability", "C+O/O"))  # fmt: skip


def _fig14() -> Artifact:
    def settings(ctx: Context) -> dict[str, Any]:
        return {"reasons": _present({exp: ctx.reason(f"fig14{letter}")
                                     for letter, exp, _ in _FIG14})}  # fmt: skip

    def render(inp: Inputs) -> None:
        from invtransfer import plots

        plots.fig_ife_sweeps(inp.frame("ife"), inp.stem, variant="fixed",
                             reasons=inp.settings["reasons"])  # fmt: skip

    panels = {
        f"fig14{letter}": Panel("ife", f"Fig. 14{letter} — {exp} sweep, transfer to {target}",
                                {"experiment": exp, "target": target, "variant": "fixed"})
        for letter, exp, target in _FIG14
    }  # fmt: skip
    return Artifact(
        "fig14", "figure", "Figure 14 -- Relevance and availability of features shape invariance",
        """Left: models pretrained on CIFAR-10 with pasted objects whose class correlates with the
        CIFAR label with strength α; right: objects pasted with probability β. Transfer accuracy
        to CIFAR labels and to object labels on C+O data; dashed lines mark the reference models.
        Relevant features are kept, available but irrelevant ones are learned away.""",
        lambda ctx: ["ife_fixed"], settings, render, panels,
    )  # fmt: skip


def _table1() -> Artifact:
    columns = [*(f"acc:{t}" for t in IFE_LABELS), "sens:cifar", "sens:objects"]

    def settings(ctx: Context) -> dict[str, Any]:
        why = ctx.reason("table1")
        return {"reasons": {c: why for c in columns} if why else {}}

    def render(inp: Inputs) -> None:
        from invtransfer import tables

        result = tables.table1(inp.frame("ife"), inp.frame("ife_sens"), "translate",
                               reasons=inp.settings["reasons"], name="Table 1")  # fmt: skip
        tables.write_table(result, inp.stem)

    panel = Panel("ife", "Table 1 — irrelevant features (RN18, translate variant)",
                  {"variant": "translate"})  # fmt: skip
    return Artifact(
        "table1", "table", "Table 1 -- Irrelevant features and transfer",
        """Rows: pretraining data X_p (C, C+O, O) and label type Y_p (CIFAR class or object);
        columns: transfer accuracy on each target data/label pair, and sens on C+O when the CIFAR
        image changes (objects fixed) or the object changes (image fixed). Features that are
        present but irrelevant during pretraining are learned away: those models are invariant to
        them and transfer worse to tasks that need them.""",
        lambda ctx: ["ife_translate", "ife_sens_translate"], settings, render, {"table1": panel},
    )  # fmt: skip


def _scorecard() -> Artifact:
    def render(inp: Inputs) -> None:
        render_scorecard(inp.frames, inp.settings, inp.out, panels=PANELS)

    return Artifact(
        "scorecard", "scorecard", "Scorecard -- the paper's numbers beside this run's",
        """Every number the paper prints (Table 1-5 cells, Fig. 3/12/13 bar labels, Fig. 16/17
        heatmaps, approximate readings of Fig. 2 and 4) next to the value this run measured, and
        each of the paper's qualitative claims checked against this run: holds or fails only when
        every comparison it makes has data, otherwise not checked, with what is missing and why.""",
        lambda ctx: ctx.all_tables(), lambda ctx: ctx.scorecard_settings(), render,
    )  # fmt: skip


def _registry() -> dict[str, Artifact]:
    entries = [
        _example("fig1", "Figure 1 -- Transforms-2D examples", """Images sampled from
            Transforms-2D: each row applies one transformation (rotate, hue, blur) to one object
            prototype pasted on a background photo.""", cifar=False),
        _tvo_factors("fig2", "t2d", "lp",
            "Figure 2 -- Invariance vs other factors on Transforms-2D (linear probe)",
            """Training accuracy (dotted) and transfer accuracy (solid) of models pretrained with
            the target task's transformations ("same", g_s) or with disjoint ones ("disjoint",
            g_d), while one other factor varies: (a) class relationship of pretraining and target
            objects, (b) architecture, (c) number of pretraining samples. The paper finds the
            same-vs-disjoint gap larger than the effect of any other factor."""),
        _tvo_diff("fig3", "lp",
            "Figure 3 -- Transfer differences due to invariance vs other factors (linear probe)",
            """For Transforms-2D, CIFAR-10 and CIFAR-100 (transformations as augmentations): per
            factor, the span of transfer accuracy over the factor's values for g_d and g_s, and
            the difference between the g_s and g_d means (the effect of having the target's
            invariances). Bars are labelled with their values."""),
        _fig4(),
        _example("fig5", "Figure 5 -- The 18 Transforms-2D transformations", """Categories
            (geometric, photometric, corruption), transformation types with their parameter
            ranges, and samples of each.""", cifar=False),
        _example("fig6", "Figure 6 -- Irrelevant-feature datasets", """Test images of CIFAR-10
            only (C), CIFAR-10 with a pasted Transforms-2D object (C+O), and objects only
            (O).""", cifar=True),
        _tvo_factors("fig7", "cifar10", "lp",
            "Figure 7 -- Invariance vs other factors on CIFAR-10 (linear probe)",
            """As Figure 2, with the transformations applied as augmentations to CIFAR-10:
            pretraining on 5 classes, transfer to the other 5; (c) varies the pretraining images
            per class."""),
        _tvo_factors("fig8", "cifar100", "lp",
            "Figure 8 -- Invariance vs other factors on CIFAR-100 (linear probe)",
            """As Figure 7 on CIFAR-100: pretraining on 50 classes, transfer to the other 50."""),
        _tvo_factors("fig9", "t2d", "ft-low",
            "Figure 9 -- Invariance vs other factors on Transforms-2D, full fine-tuning on 200 "
            "samples",
            """As Figure 2, but after the linear probe the whole model is fine-tuned on 200 target
            samples (learning rate decaying linearly to 0)."""),
        _tvo_factors("fig10", "cifar10", "ft-low",
            "Figure 10 -- Invariance vs other factors on CIFAR-10, full fine-tuning on 1 % of the "
            "data",
            """As Figure 7, with the whole model fine-tuned on 1 % of the target training set
            after the probe."""),
        _tvo_factors("fig11", "cifar100", "ft-low",
            "Figure 11 -- Invariance vs other factors on CIFAR-100, full fine-tuning on 1 % of the "
            "data",
            """As Figure 8, with the whole model fine-tuned on 1 % of the target training set
            after the probe."""),
        _tvo_diff("fig12", "ft-low",
            "Figure 12 -- Transfer differences due to invariance vs other factors, low-data "
            "fine-tuning",
            """As Figure 3, after full fine-tuning on 200 samples (Transforms-2D) or 1 % of the
            training set (CIFAR-10/100)."""),
        _tvo_diff("fig13", "ft-high",
            "Figure 13 -- Transfer differences due to invariance vs other factors, high-data "
            "fine-tuning",
            """As Figure 3, after full fine-tuning on 2,000 samples (Transforms-2D) or 10 % of the
            training set (CIFAR-10/100)."""),
        _fig14(),
        _example("fig15", "Figure 15 -- Out-of-distribution evaluation data", """Top:
            structured-random images (a random pattern per class on random-pixel backgrounds);
            bottom: CIFAR-10 with the transformations as augmentations. One row per
            transformation.""", cifar=True),
        _it_heatmap("fig16", "image",
            "Figure 16 -- Invariance transfer between transformations, image-trained models",
            """sens of ResNet-18 models (rows: training transformation, plus "none") to each
            target transformation (columns), in distribution. Lower is more invariant; the low
            diagonal shows that models become invariant mainly to what they were trained on, with
            some spill-over (e.g. rotate/shear to flips)."""),
        _it_heatmap("fig17", "random",
            "Figure 17 -- Invariance transfer between transformations, random-data models",
            """As Figure 16 for ResNet-18 models trained on structured-random data."""),
        _fig18(),
        _table1(),
        _it_table("table2", None, "Table 2 — invariance transfer, ResNet-18",
            "Table 2 -- Invariance transfer under distribution shift, ResNet-18",
            """Mean ± std of sens (lower is more invariant) for models trained on image or random
            data. Same: a model evaluated on its own training transformation; Other: the mean over
            the other transformations; None: a model trained without transformations. Columns: in
            distribution, mild OOD, strong OOD, CIFAR-10, CIFAR-100. Bold: the most invariant row
            per column. Invariance to the training transformation persists under all these
            shifts."""),
        _it_table("table3", "vgg11", "Table 3 — invariance transfer, VGG-11",
            "Table 3 -- Invariance transfer under distribution shift, VGG-11",
            """As Table 2 for VGG-11 models."""),
        _it_table("table4", "densenet", "Table 4 — invariance transfer, DenseNet",
            "Table 4 -- Invariance transfer under distribution shift, DenseNet",
            """As Table 2 for DenseNet models (the reference's CIFAR DenseNet unless the config
            chooses ``densenet121``)."""),
        _it_table("table5", "vit", "Table 5 — invariance transfer, ViT",
            "Table 5 -- Invariance transfer under distribution shift, ViT",
            """As Table 2 for ViT models."""),
        _scorecard(),
    ]  # fmt: skip
    out: dict[str, Artifact] = {}
    for a in entries:
        if a.name in out:
            raise ValueError(f"artifact {a.name!r} registered twice")
        out[a.name] = a
    return out


ARTIFACTS: dict[str, Artifact] = _registry()

# Every paper panel with printed numbers (and the Fig. 13 curves), for the scorecard.
PANELS: dict[str, Panel] = {p: spec for a in ARTIFACTS.values() for p, spec in a.panels.items()}
