"""The machinery around the artifact registry (:mod:`invtransfer.artifacts`).

* :class:`ReportContext`: a config (and its plan) with what the entries derive from it — the
  architectures of each experiment, architecture labels, and why a panel, column or row is absent
  (:func:`panel_reasons`: the config key that leaves it empty and how to get it);
* :func:`artifact_tables`, :func:`artifact_settings`, :func:`final_targets`,
  :func:`wildcard_pattern`: what the workflow asks at parse time (a report rule gets the tables
  and the settings of its artifact, nothing else of the config);
* :func:`render_artifact`: reads the tidy tables, groups them by kind and calls the entry's
  renderer (the scorecard's is :func:`invtransfer.scorecard.render_scorecard`);
* :func:`pool_scorecard`: the scorecard of tidy tables from several runs of different seeds
  (``invtransfer scorecard``), outside the workflow.

:class:`ReportContext` is the registry's :class:`invtransfer.artifacts.Context`: the registry
does not import this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from invtransfer.aggregation import IT_EVALS, TRANSFORM_ORDER, canonical_arch, table_kind
from invtransfer.artifacts import ARTIFACTS, KINDS, PANELS, Artifact, Inputs
from invtransfer.config import resolve_arch

if TYPE_CHECKING:
    from invtransfer.experiments import Plan

__all__ = [
    "ReportContext",
    "artifact_settings",
    "artifact_tables",
    "example_specs",
    "final_targets",
    "frames_by_kind",
    "panel_reasons",
    "pool_scorecard",
    "render_artifact",
    "wildcard_pattern",
]

_CIFAR_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
# architecture -> (label in titles, captions and headers; short label for tick labels)
_ARCH_LABELS = {
    "densenet_cifar": (
        "DenseNet (densenet_cifar, growth 12: the reference's 'DenseNet-121')",
        "DN (cifar)",
    ),
    "densenet121": ("DenseNet-121 (growth 32)", "DN121"),
    "resnet18": ("ResNet-18", "ResNet18"),
    "resnet50": ("ResNet-50", "ResNet50"),
    "vgg11": ("VGG-11", "VGG11"),
    "vit": ("ViT", "ViT"),
}


def _cifar_hint(dataset: str) -> str:
    """How to get a CIFAR data set, for reasons that depend on it."""
    folder = "cifar-10-batches-py/" if dataset == "cifar10" else "cifar-100-python/"
    return (
        f"needs {_CIFAR_NAMES.get(dataset, dataset)}: {folder} in assets.cifar.path "
        "(or $INVTRANSFER_CIFAR_DIR), or assets.cifar.download: true"
    )


def panel_reasons(config: Mapping[str, Any]) -> dict[str, str]:
    """Why a paper panel, column or row is absent in a run of ``config``, keyed by panel
    (``fig7a``, ``fig13b:arch``, ``table3``, ``fig14a``), panel column (``table2:cifar10``) or
    heatmap row/column (``fig16:shear``): the config key that leaves it empty and how to get it.
    Empty for the paper's own config."""
    exps = config["experiments"]
    tvo = exps.get("tvo", {})
    families, regimes = tvo.get("families", []), tvo.get("regimes", ["lp"])
    out: dict[str, str] = {}

    def tvo_reason(family: str, regime: str, factor: str | None) -> str | None:
        if family not in families:
            hint = f"; {_cifar_hint(family)}" if family in _CIFAR_NAMES else ""
            return f"{family} is not in experiments.tvo.families (add it{hint})"
        if regime not in regimes:
            return f"{regime} is not in experiments.tvo.regimes (add it)"
        if factor == "pt_samples" and not tvo.get("pt_samples", {}).get(family):
            return f"experiments.tvo.pt_samples.{family} is empty (list pretraining sample counts)"
        if factor == "class_rel" and tvo.get("class_relationships") == []:
            return (
                "experiments.tvo.class_relationships is empty (list subset/disjoint/same/superset)"
            )
        return None

    for name, spec in PANELS.items():
        if spec.source == "tvo":
            p = spec.params
            why = tvo_reason(p["family"], p["regime"], p.get("factor"))
            if why:
                out[name] = why
    for fam in ("it", "tm", "ife"):
        if not exps.get(fam, {}).get("enabled", False):
            hint = (
                f"; IFE pastes objects on CIFAR-10: {_cifar_hint('cifar10')}"
                if fam == "ife"
                else ""
            )
            for name, spec in PANELS.items():
                if spec.source == fam:
                    out[name] = f"experiments.{fam}.enabled is false (set it to true{hint})"

    def untrained_archs(fam: str, panels: Sequence[str]) -> None:
        """``panels`` of an architecture that ``experiments.<fam>`` does not train."""
        trained = [resolve_arch(a, config) for a in exps[fam].get("architectures", [])]
        for panel in panels:
            arch = PANELS[panel].params["arch"]
            if resolve_arch(arch, config) not in trained:
                out[panel] = f"{arch} is not in experiments.{fam}.architectures (add it)"

    it = exps.get("it", {})
    if it.get("enabled", False):
        untrained_archs("it", ("table3", "table4", "table5"))
        evals = it.get("evals", list(IT_EVALS))
        for ev in IT_EVALS:
            if ev not in evals:
                hint = f"; {_cifar_hint(ev)}" if ev in _CIFAR_NAMES else ""
                for table in ("table2", "table3", "table4", "table5"):
                    out[f"{table}:{ev}"] = f"{ev} is not in experiments.it.evals (add it{hint})"
        transforms = it.get("transforms", "all")
        if transforms != "all":
            for t in TRANSFORM_ORDER:
                if t not in transforms:
                    for fig in ("fig16", "fig17"):
                        out[f"{fig}:{t}"] = f"{t} is not in experiments.it.transforms (add it)"
    if exps.get("tm", {}).get("enabled", False):
        untrained_archs("tm", ("fig18a", "fig18b", "fig18c"))
    ife = exps.get("ife", {})
    if ife.get("enabled", False):
        variants = ife.get("variants", ["fixed", "translate"])
        if "translate" not in variants:
            out["table1"] = "translate is not in experiments.ife.variants (add it)"
        for panel, spec in PANELS.items():
            if spec.source != "ife" or panel == "table1":
                continue
            key = "correlations" if spec.params["experiment"] == "relevance" else "availabilities"
            if "fixed" not in variants:
                out[panel] = "fixed is not in experiments.ife.variants (add it)"
            elif not ife.get(key):
                out[panel] = (
                    f"experiments.ife.{key} is empty (list the {spec.params['experiment']} values)"
                )
    return out


class ReportContext:
    """A config (validated) and, when given, its plan, with what the registry's entries derive
    from them. Only :meth:`all_tables` and :func:`artifact_tables` need the plan."""

    def __init__(self, config: Mapping[str, Any], plan: Plan | None = None):
        self.config = config
        self.plan = plan

    @cached_property
    def reasons(self) -> dict[str, str]:
        return panel_reasons(self.config)

    def reason(self, key: str) -> str | None:
        return self.reasons.get(key)

    def resolve(self, arch: str) -> str:
        return resolve_arch(arch, self.config)

    def archs(self, family: str, *, resolved: bool = True) -> list[str]:
        """The architectures of experiment ``family`` (tvo, it, tm), as resolved names."""
        exp = self.config["experiments"].get(family, {})
        if family == "tvo":
            names = list(exp.get("architectures", [exp.get("default_arch", "resnet18")]))
        elif exp.get("enabled", False):
            names = list(exp.get("architectures", []))
        else:
            names = []
        return [self.resolve(a) for a in names] if resolved else names

    def first(self, family: str) -> str | None:
        """The first architecture of ``family``: the paper's main-text artifacts (Fig 4, 16, 17,
        Table 2) are ResNet-18 runs, and a preset with other architectures draws them with its
        first one (labelled as such)."""
        archs = self.archs(family)
        return archs[0] if archs else None

    def _labels(self, short: bool) -> dict[str, str]:
        labels = {name: pair[short] for name, pair in _ARCH_LABELS.items()}
        models = self.config.get("models", {})
        for name, kwargs in models.get("arch_kwargs", {}).items():
            if kwargs:
                extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
                labels[name] = f"{labels.get(name, name)} ({extra})"
        labels["densenet"] = labels[self.resolve("densenet")]
        return labels

    def arch_label(self, arch: str) -> str:
        return self._labels(short=False).get(arch, arch)

    def arch_labels(self, archs: Sequence[str], *, short: bool = False) -> dict[str, str]:
        """Labels of ``archs`` that differ from the plain name (config names and resolved ones);
        ``short``: the compact form for tick labels ("DN (cifar)")."""
        labels = self._labels(short)
        names = [*archs, *(self.resolve(a) for a in archs)]
        return {a: labels[a] for a in dict.fromkeys(names) if a in labels}

    def it_transforms_note(self) -> str | None:
        transforms = self.config["experiments"].get("it", {}).get("transforms", "all")
        if transforms == "all":
            return None
        return (
            f"experiments.it.transforms lists {len(transforms)} of {len(TRANSFORM_ORDER)} "
            "transformations; add the others to fill the heatmap"
        )

    def uses_cifar(self) -> bool:
        exps = self.config["experiments"]
        return bool(
            {"cifar10", "cifar100"} & set(exps.get("tvo", {}).get("families", []))
            or exps.get("ife", {}).get("enabled", False)
            or {"cifar10", "cifar100"} & set(exps.get("it", {}).get("evals", []))
        )

    def example_specs(self, name: str) -> dict[str, dict[str, dict]]:
        return example_specs(name, self.config)

    def all_tables(self) -> list[str]:
        if self.plan is None:
            raise ValueError("the scorecard reads every table of the plan: pass the plan")
        return sorted(self.plan.records)

    def scorecard_settings(self) -> dict[str, Any]:
        """Which first architectures stand in for ResNet-18 in the comparison, the DenseNet
        label, and every panel reason."""
        stand_in = {
            fam: first
            for fam in ("it", "tm")
            if (first := self.first(fam)) and canonical_arch(first) != "resnet18"
        }
        return {
            "stand_in": stand_in,
            "densenet": self.arch_label("densenet"),
            "reasons": dict(sorted(self.reasons.items())),
        }


def _entry(name: str) -> Artifact:
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise ValueError(
            f"unknown artifact {name!r}; the registry (invtransfer.artifacts) has "
            f"{', '.join(ARTIFACTS)}"
        ) from None


def artifact_tables(name: str, config: Mapping[str, Any], plan: Plan) -> list[str]:
    """Keys of the tidy tables (``results/tables/<key>.csv``) that artifact ``name`` is drawn
    from, limited to those the plan has records for (the drawing shows "not run" for the rest)."""
    ctx = ReportContext(config, plan)
    have = set(plan.records)
    return [t for t in _entry(name).tables(ctx) if t in have]


def artifact_settings(
    name: str, config: Mapping[str, Any], plan: Plan | None = None
) -> dict[str, Any]:
    """The settings artifact ``name``'s renderer uses: a small JSON-able dict derived from the
    config (a report rule's params; an unrelated config edit leaves them unchanged)."""
    return _entry(name).settings(ReportContext(config, plan))


def final_targets(config: Mapping[str, Any], plan: Plan) -> list[str]:
    """Every artifact the config can build (registry order): example figures the config's data
    allow, and every other artifact with at least one tidy table behind it."""
    ctx = ReportContext(config, plan)
    have = set(plan.records)
    out = []
    for a in ARTIFACTS.values():
        built = a.built(ctx) if a.built else any(t in have for t in a.tables(ctx))
        if built:
            out.append(a.target)
    return out


def wildcard_pattern(kind: str) -> str:
    """A regular expression matching exactly the names of the registry's artifacts of ``kind``
    (the report rules' wildcard constraints)."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; expected one of {KINDS}")
    names = [a.name for a in ARTIFACTS.values() if a.kind == kind]
    return "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))


def frames_by_kind(
    tables: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
) -> dict[str, pd.DataFrame]:
    """Concatenate ``tvo_t2d_lp``, ``tvo_cifar10_lp``, … into ``tvo`` (likewise it, tm, ife,
    ife_sens). ``tables``: frames by table name, or (name, frame) pairs, where a name may repeat
    (the same table of several runs)."""
    groups: dict[str, list[pd.DataFrame]] = {}
    for key, df in tables.items() if isinstance(tables, Mapping) else tables:
        groups.setdefault(table_kind(key), []).append(df)
    out = {k: pd.concat(v, ignore_index=True) for k, v in groups.items()}
    if "tvo" in out:
        out["tvo"]["value"] = out["tvo"]["value"].astype(str)
    return out


def render_artifact(
    name: str,
    tables: Mapping[str, pd.DataFrame] | Sequence[str | Path],
    out: str | Path,
    settings: Mapping[str, Any],
) -> None:
    """Draw artifact ``name`` into ``out`` (its first output: ``figures/<name>.pdf`` or
    ``tables/<name>.md``) from its tidy tables (frames by key, or the CSV paths) and settings."""
    if not isinstance(tables, Mapping):
        tables = {Path(p).stem: pd.read_csv(p) for p in tables}
    _entry(name).render(Inputs(frames_by_kind(tables), dict(settings), Path(out)))


def example_specs(name: str, config: Mapping[str, Any]) -> dict[str, dict[str, dict]]:
    """Dataset specs of the example figures' rows (built in memory; only the first images are
    used). Returns ``{panel: {row: spec}}``: Fig 1 and 5 have one panel ``rows``; Fig 15
    ``random`` and ``cifar``; Fig 6 ``rows`` with C, C+O and O."""
    from invtransfer.example_figures import (
        FIG1_TRANSFORMS,
        FIG15_CIFAR_TRANSFORMS,
        FIG15_RANDOM_TRANSFORMS,
    )
    from invtransfer.experiments import (
        _all_transforms,
        _object_pool,
        cifar_spec,
        ife_spec,
        random_spec,
        t2d_spec,
    )

    small = {**config, "data": {**config["data"], "n_test": 64}}
    pool = _object_pool(config)
    if name in ("fig1", "fig5"):
        names = FIG1_TRANSFORMS if name == "fig1" else _all_transforms()
        return {"rows": {t: t2d_spec(small, pool[:4], [t], 0, test_only=True) for t in names}}
    if name == "fig15":
        return {
            "random": {
                t: random_spec(small, 4, 998, [t], 0, test_only=True)
                for t in FIG15_RANDOM_TRANSFORMS
            },
            "cifar": {
                t: cifar_spec(small, "cifar10", list(range(10)), [t], 0, test_only=True)
                for t in FIG15_CIFAR_TRANSFORMS
            },
        }
    if name == "fig6":
        objs = pool[:10]
        rows = {
            "cifar": ife_spec(small, "C/C", objs, 0, placement="random", test_only=True),
            "cifar_objects": ife_spec(small, "C+O/C", objs, 0, placement="random", test_only=True),
            "objects": ife_spec(small, "O/O", objs, 0, placement="random", test_only=True),
        }
        return {"rows": rows}
    examples = [a.name for a in ARTIFACTS.values() if a.kind == "example"]
    raise ValueError(f"{name!r} is not an example figure; expected one of {examples}")


def pool_scorecard(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    stand_in: Mapping[str, str] | None = None,
    seed_resamples: int | None = None,
) -> tuple[pd.DataFrame, list]:
    """The scorecard of tidy tables (``results/tables/*.csv``) pooled from one or more runs.

    Runs of the same configuration with different seeds (``seed_offset``) pool into the
    scorecard a run of all their seeds would get: the claims on the mean over every seed, and
    per seed. A table whose rows of one seed come from two files (the same run given twice)
    would count that seed twice, so that is an error (per table name: ``tvo_t2d_lp`` and
    ``tvo_t2d_ft-low`` of one run are different tables), as is a file that is no tidy table.
    ``stand_in`` (``{"it": "vgg11_w"}``): the architecture that stands in for ResNet-18 in a
    family without one; a family with a single architecture needs none. Renders through
    :func:`invtransfer.scorecard.render_scorecard`, as the workflow does; panel reasons come from
    the data (there is no config here). ``seed_resamples``: how many resamples of the pooled
    seeds the claims are checked on (None: :data:`invtransfer.scorecard.SEED_RESAMPLES`; 0: none).
    """
    from invtransfer.aggregation import SCHEMAS, validate_frame
    from invtransfer.scorecard import render_scorecard

    if not paths:
        raise ValueError("no tidy tables given (e.g. results/tables/*.csv of each run)")
    tables: list[tuple[str, pd.DataFrame]] = []
    seen: dict[tuple[str, int], Path] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such tidy table")
        kind = table_kind(path.stem)
        if kind not in SCHEMAS:
            raise ValueError(
                f"{path}: not a tidy results table (its name says {kind!r}; tables are named "
                f"{', '.join(f'{k}_*' for k in SCHEMAS)})"
            )
        frame = validate_frame(pd.read_csv(path), kind)
        for seed in sorted({int(x) for x in frame["seed"].unique()}):
            if (path.stem, seed) in seen:
                raise ValueError(
                    f"seed {seed} of {path.stem} is in both {seen[path.stem, seed]} and {path}: "
                    "pool runs of different seeds (seed_offset), not the same run twice"
                )
            seen[path.stem, seed] = path
        tables.append((path.stem, frame))
    frames = frames_by_kind(tables)
    for fam in stand_in or {}:
        if fam not in ("it", "tm"):
            raise ValueError(f"--stand-in {fam}=…: only the it and tm families have a stand-in")
    chosen: dict[str, str] = {}
    for fam in ("it", "tm"):
        archs = sorted(set(frames[fam]["arch"])) if fam in frames else []
        if not archs or "resnet18" in {canonical_arch(a) for a in archs}:
            continue
        first = (stand_in or {}).get(fam) or (archs[0] if len(archs) == 1 else None)
        if first is None:
            raise ValueError(
                f"the {fam} results have {', '.join(archs)} and no ResNet-18: say which stands in "
                f"for it (--stand-in {fam}=ARCH)"
            )
        if first not in archs:
            raise ValueError(f"--stand-in {fam}={first}: the {fam} results have {', '.join(archs)}")
        chosen[fam] = first
    dense = sorted({a for f in frames.values() if "arch" in f for a in f["arch"]
                    if canonical_arch(a) == "densenet"})  # fmt: skip
    settings = {
        "stand_in": chosen,
        "densenet": ", ".join(_ARCH_LABELS.get(a, (a,))[0] for a in dense),
        "reasons": {},
    }
    extra = {} if seed_resamples is None else {"seed_resamples": seed_resamples}
    return render_scorecard(frames, settings, out, panels=PANELS,
                            title=f"Scorecard: {len(paths)} tidy tables pooled, vs. the paper",
                            **extra)  # fmt: skip
