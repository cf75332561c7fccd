"""The workflow's jobs as data: which jobs a set of targets needs, without Snakemake.

The rules (``workflow/rules/*.smk``) name their inputs through the input functions of
``common.smk``, which look names up in the :class:`~invtransfer.experiments.Plan`. This module
holds the non-trivial part of those lookups (:func:`data_checks`, :func:`table_inputs`,
:func:`sens_inputs`, ...), so the rules and :class:`JobGraph` use the same code, plus the one
thing the rules state by themselves: which rule writes which path (:func:`producer`, mirroring each
rule's ``output:``). :meth:`JobGraph.jobs` walks the inputs from the targets the way Snakemake
builds its DAG, as if nothing had been built yet; ``tests/test_estimate.py`` checks that its job
counts equal a Snakemake dry run's. ``python -m invtransfer plan`` (:mod:`invtransfer.estimate`)
costs the jobs it finds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from invtransfer.experiments import Plan

__all__ = [
    "RULE_ORDER",
    "Job",
    "JobGraph",
    "data_checks",
    "producer",
    "sens_evalsets",
    "snakemake_job",
    "table_inputs",
]

#: Every rule of the workflow, in the order its files define them (what the counts list).
RULE_ORDER = (
    "all",
    "check_assets",
    "check_cifar",
    "materialize",
    "evalset",
    "pretrain",
    "finetune",
    "features",
    "probe",
    "sens",
    "collect",
    "figure",
    "table",
    "scorecard",
    "example_figure",
)

CIFAR_KINDS = ("cifar", "cifar_objects")


@dataclass(frozen=True, order=True)
class Job:
    """One workflow job: its rule and the value of the rule's wildcard(s) (``""`` for none;
    ``"<model>/<dataset>"`` for ``finetune``)."""

    rule: str
    key: str = ""


# -- what the rules' input functions return (common.smk calls these) ----------------------------
def data_checks(specs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The asset checks a set of dataset specs needs: the photo bundle, and CIFAR if used."""
    needs = {"results/assets/check.json"}
    for spec in specs:
        if spec["kind"] in CIFAR_KINDS:
            needs.add(f"results/assets/{spec.get('dataset', 'cifar10')}.json")
    return sorted(needs)


def table_inputs(plan: Plan, table: str) -> list[str]:
    """The workflow artifacts behind tidy table ``table`` (``collect``'s input)."""
    files = set()
    for rec in plan.records[table]:
        files.update(plan.requires(v) for k, v in rec.items() if k.endswith("_path"))
    return sorted(files)


def sens_evalsets(plan: Plan, group: str) -> list[str]:
    """The evaluation-set folders sens group ``group`` reads."""
    names = {p.evalset for ps in plan.sens[group].models.values() for p in ps}
    return [f"results/evalsets/{n}" for n in sorted(names)]


# -- which rule writes a path (each rule's output:) ---------------------------------------------
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (rule, re.compile(pattern))
    for rule, pattern in (
        ("check_assets", r"results/assets/check\.json"),
        ("check_cifar", r"results/assets/(cifar10|cifar100)\.json"),
        ("materialize", r"results/datasets/([^/]+)"),
        ("evalset", r"results/evalsets/([^/]+)"),
        ("pretrain", r"results/models/([^/]+)/(?:model\.pt|metrics\.json|history\.csv)"),
        ("features", r"results/features/([^/]+)"),
        ("probe", r"results/probes/([^/]+)"),
        ("finetune", r"results/finetune/([^/]+/[^/]+)/[^/]+/metrics\.json"),
        ("sens", r"results/sens/([^/]+)"),
        ("collect", r"results/tables/([^/]+)\.csv"),
        ("scorecard", r"tables/(scorecard)\.(?:md|csv)"),
        ("table", r"tables/([^/]+)\.(?:md|tex|csv)"),
        ("figure", r"figures/([^/]+)\.(?:pdf|png)"),
    )
)


def producer(path: str) -> Job:
    """The job whose rule writes ``path`` (a path relative to the working directory, as the rules
    name it; the rule name ``all`` is the default target). ``ValueError`` when no rule does."""
    from invtransfer.artifacts import ARTIFACTS

    path = str(path).removeprefix("./")
    if path == "all":
        return Job("all")
    for rule, pattern in _PATTERNS:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        key = m.group(1) if m.groups() else ""
        if rule in ("table", "figure"):
            entry = ARTIFACTS.get(key)
            kinds = {"table": ("table",), "figure": ("figure", "example")}[rule]
            if entry is None or entry.kind not in kinds:
                names = sorted(a.name for a in ARTIFACTS.values() if a.kind in kinds)
                raise ValueError(
                    f"{path}: no {rule} named {key!r} in the artifact registry "
                    f"(invtransfer.artifacts; {rule}s: {', '.join(names)})"
                )
            if entry.kind == "example":
                rule = "example_figure"
        return Job(rule, key)
    raise ValueError(
        f"{path}: no rule of the workflow writes this path (targets are figures/<name>.pdf, "
        "tables/<name>.md, results/... folders and files as listed in docs/ARCHITECTURE.md, or "
        "the rule name 'all')"
    )


def snakemake_job(rule: str, wildcards: Mapping[str, str]) -> Job | None:
    """The :class:`Job` of a Snakemake job (its rule name and wildcard values); None for a rule
    this workflow does not define (e.g. a host workflow's own rules)."""
    if rule not in RULE_ORDER:
        return None
    if rule == "finetune":
        return Job(rule, f"{wildcards['model']}/{wildcards['dataset']}")
    return Job(rule, str(next(iter(wildcards.values()), "")))


# -- the graph -----------------------------------------------------------------------------------
@dataclass
class JobGraph:
    """The jobs of one configuration's workflow (its :class:`Plan`), job by job."""

    config: Mapping[str, Any]
    plan: Plan
    finetune_regimes: Sequence[str] = ()
    _final: list[str] | None = field(default=None, repr=False)

    def final_targets(self) -> list[str]:
        """``rule all``'s inputs: every artifact the config can build."""
        if self._final is None:
            from invtransfer.reporting import final_targets

            self._final = final_targets(self.config, self.plan)
        return self._final

    def _lookup(self, kind: str, mapping: Mapping[str, Any], key: str) -> Any:
        try:
            return mapping[key]
        except KeyError:
            raise ValueError(
                f"{kind} {key!r} is not part of the current config's experiment plan "
                "(request figures/tables, or check that the config has not changed)"
            ) from None

    def inputs(self, job: Job) -> list[str]:
        """The paths ``job``'s rule asks for (its ``input:``), as the rule's functions give them."""
        plan, key = self.plan, job.key
        rule = job.rule
        if rule == "all":
            return self.final_targets()
        if rule in ("check_assets", "check_cifar"):
            return []
        if rule == "materialize":
            return data_checks([self._lookup("dataset", plan.datasets, key)])
        if rule == "evalset":
            return data_checks(self._lookup("evalset", plan.evalsets, key).values())
        if rule == "pretrain":
            return [f"results/datasets/{self._lookup('model', plan.models, key).dataset}"]
        if rule == "features":
            feats = self._lookup("features job of model", plan.features, key)
            return [
                f"results/models/{key}/model.pt",
                *(f"results/datasets/{d}" for d in feats.datasets),
            ]
        if rule == "probe":
            self._lookup("probe job of model", plan.probes, key)
            return [f"results/features/{key}"]
        if rule == "finetune":
            job_ = self._lookup("fine-tuning", plan.finetunes, key)
            if not self.finetune_regimes:
                raise ValueError("the config has no fine-tuning regime: no finetune rule")
            return [
                f"results/models/{job_.model}/model.pt",
                f"results/probes/{job_.model}",
                f"results/datasets/{job_.dataset}",
            ]
        if rule == "sens":
            sens = self._lookup("sens group", plan.sens, key)
            return [f"results/models/{m}/model.pt" for m in sens.models] + sens_evalsets(plan, key)
        if rule == "collect":
            self._lookup("table", plan.records, key)
            return table_inputs(plan, key)
        if rule in ("figure", "table", "scorecard"):
            from invtransfer.reporting import artifact_tables

            return [f"results/tables/{t}.csv" for t in artifact_tables(key, self.config, plan)]
        if rule == "example_figure":
            return ["results/assets/check.json"]
        raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(RULE_ORDER)}")

    def jobs(self, targets: Sequence[str] = ()) -> list[Job]:
        """Every job the ``targets`` need (default: ``all``), each once, in a stable order."""
        todo = [producer(t) for t in (targets or ["all"])]
        seen: set[Job] = set()
        while todo:
            job = todo.pop()
            if job in seen:
                continue
            seen.add(job)
            todo.extend(producer(p) for p in self.inputs(job))
        order = {rule: i for i, rule in enumerate(RULE_ORDER)}
        return sorted(seen, key=lambda j: (order[j.rule], j.key))

    @staticmethod
    def counts(jobs: Iterable[Job]) -> dict[str, int]:
        """Jobs per rule, in :data:`RULE_ORDER` (rules without jobs left out)."""
        n = Counter(j.rule for j in jobs)
        return {rule: n[rule] for rule in RULE_ORDER if n[rule]}
