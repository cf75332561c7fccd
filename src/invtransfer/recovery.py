"""The one command that rebuilds a broken artifact: what every integrity error advises.

A corrupt file inside the workflow's ``results/`` folder is rebuilt by rerunning the job whose
*declared output* holds it, with ``snakemake --force <declared output>``: deleting the file is
not enough (a file inside a ``directory()`` output, or ``model.pt`` beside the files of the same
job, is not something Snakemake schedules on its own). :func:`workflow_target` maps a path to
that output:

================================================  ==================================================
file                                              declared output (``--force`` target)
================================================  ==================================================
``results/datasets/<D>/…``                        ``results/datasets/<D>``
``results/evalsets/<E>/<member>/…``               ``results/evalsets/<E>``
``results/models/<M>/{model.pt,…}``               ``results/models/<M>/model.pt``
``results/features/<M>/<D>/…``                    ``results/features/<M>``
``results/probes/<M>/<D>/{head.pt,…}``            ``results/probes/<M>``
``results/finetune/<M>/<D>/<R>/{model.pt,…}``     ``results/finetune/<M>/<D>/<R>/metrics.json``
``results/sens/<G>/…``                            ``results/sens/<G>``
================================================  ==================================================

The command carries the options of the Snakemake run (``--profile``, ``--configfile``,
``--config``, ``--directory``, …): the Snakefile calls :func:`announce_run_options` in the main
Snakemake process, which puts them in ``$INVTRANSFER_SNAKEMAKE_OPTIONS`` for its jobs. Where they
are unknown (``inspect``, a library call, a cluster job without the variable) the advice says to
add them. After the rebuild, the user's usual command refreshes what depends on the file
(Snakemake's mtime trigger).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "ENV_OPTIONS",
    "announce_run_options",
    "rebuild_advice",
    "rebuild_command",
    "run_options",
    "snakemake_options",
    "workflow_target",
]

ENV_OPTIONS = "INVTRANSFER_SNAKEMAKE_OPTIONS"  # JSON list of the run's Snakemake options
RESULTS = "results"

# Snakemake options that decide which workflow, config and machine a rebuild runs with (by the
# parser's dest); the others (targets, --force, -n, --until, ...) are not carried.
_CARRIED = (
    "profile",
    "workflow_profile",
    "snakefile",
    "directory",
    "configfile",
    "config",
    "cores",
    "jobs",
    "executor",
    "software_deployment_method",
)


def workflow_target(path: str | os.PathLike[str]) -> str | None:
    """The declared workflow output whose job rebuilds the file or folder at ``path`` (relative
    to the workflow folder, e.g. ``results/models/<M>/model.pt``), or None when ``path`` is not
    inside a workflow's ``results/`` folder."""
    parts = Path(path).parts
    starts = [i for i, part in enumerate(parts) if part == RESULTS]
    if not starts:
        return None
    rel = parts[starts[-1] :]
    if len(rel) < 3:
        return None
    stage, name = rel[1], rel[2]
    if name.startswith("."):
        return None  # a temporary
    if stage in ("datasets", "evalsets", "features", "probes", "sens"):
        return "/".join(rel[:3])
    if stage == "models":
        return "/".join((*rel[:3], "model.pt"))
    if stage == "finetune" and len(rel) >= 5:
        return "/".join((*rel[:5], "metrics.json"))
    return None


def snakemake_options(argv: Sequence[str]) -> list[str] | None:
    """The options among ``argv`` (a Snakemake command line without the program name) that a
    rebuild must repeat: profile, Snakefile, folder, config files and values, cores/jobs,
    executor. None when ``argv`` does not parse as a Snakemake command line."""
    from snakemake.cli import get_argument_parser

    parser = get_argument_parser()
    try:
        args, _ = parser.parse_known_args(list(argv))
    except SystemExit:
        return None
    actions = {a.dest: a for a in parser._actions}
    options: list[str] = []
    for dest in _CARRIED:
        action = actions.get(dest)
        if action is None:
            continue
        value = getattr(args, dest, None)
        if value is None or value == action.default or value in ([], ""):
            continue
        flag = next(
            (o for o in action.option_strings if o.startswith("--")), action.option_strings[0]
        )
        if isinstance(value, (list, tuple)):
            options += [flag, *(str(v) for v in value)]
        elif value is True:
            options.append(flag)
        else:
            options += [flag, str(value)]
    return options


def announce_run_options(argv: Sequence[str] | None = None) -> list[str] | None:
    """In the main Snakemake process: record the run's options (from ``sys.argv``) in
    ``$INVTRANSFER_SNAKEMAKE_OPTIONS`` for its jobs, so their errors give a command that runs
    as is. Does nothing (returns None) when the process is not a Snakemake command line."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return None
    program = Path(argv[0])
    if not (program.name == "snakemake" or program.parent.name == "snakemake"):
        return None
    options = snakemake_options(argv[1:])
    if options is not None:
        os.environ[ENV_OPTIONS] = json.dumps(options)
    return options


def run_options() -> list[str] | None:
    """The options announced by the Snakemake run this process belongs to, or None."""
    raw = os.environ.get(ENV_OPTIONS)
    if raw is None:
        return None
    try:
        options = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        return None
    return options


def rebuild_command(target: str) -> str:
    """``snakemake <the run's options> --force <target>`` (shell-quoted); without announced
    options, ``snakemake --force <target>``."""
    return shlex.join(["snakemake", *(run_options() or []), "--force", target])


def rebuild_advice(path: str | os.PathLike[str], *, fallback: str | None = None) -> str:
    """How to rebuild the artifact holding ``path``: the Snakemake command for the workflow's
    files, else ``fallback`` (a command outside the workflow), else the generic advice."""
    target = workflow_target(path)
    if target is not None:
        command = rebuild_command(target)
        options = ""
        if run_options() is None:
            options = " (add the --profile/--configfile options of your run)"
        return (
            f"rebuild it with: {command}{options}, then rerun your usual command to refresh "
            "what depends on it"
        )
    if fallback is not None:
        return f"rebuild it with: {fallback}"
    return "rebuild it by rerunning the step that wrote it"
