"""Command line: ``invtransfer`` / ``python -m invtransfer``.

Subcommands::

    inspect PATH                                  summary of an artifact folder (exit 1 if damaged)
    find [--arch A] [--transform T] [--seed N]    the model folders of a config that match
    config [--reference]                          the effective configuration, every key described
    plan [TARGET ...] [--gpu H100]                jobs per rule, training work, estimated time
    materialize --spec SPEC.json --out DIR        build a dataset folder from a spec
    render-epoch RUN --epoch E --out DIR          epoch E's training images of a per-epoch run
    assets rebuild --workdir TMP [--dest DIR]     rebuild the object/background bundle
    profile MODEL --out DIR                       invariance profile of any model (18 transforms)
    export DATASET --format F --out DIR           a dataset folder as ImageFolder/WebDataset/Parquet
    scorecard TABLE.csv ... --out FILE.md         the scorecard of tidy tables pooled from runs
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from invtransfer.errors import InvTransferError

__all__ = ["build_parser", "main"]


def _cmd_inspect(args: argparse.Namespace) -> int:
    from invtransfer.inspect import format_report, inspect_path

    report = inspect_path(args.path)
    sys.stdout.write(format_report(report))
    return 0 if report.ok else 1


def _config(args: argparse.Namespace):
    """The configuration a ``snakemake`` run with the same options would use."""
    from invtransfer.config import load_config, profile_settings

    profile = profile_settings(args.profile) if args.profile else None
    files = [*(profile["configfiles"] if profile else []), *args.configfile]
    overrides = {k: v for k, v in (profile["config"] if profile else {}).items() if k != "preset"}
    preset = args.preset or (profile["preset"] if profile else None)
    return load_config(
        args.base, *files, preset=preset, overrides=overrides, workdir=Path(args.base).parent
    )


def _cmd_config(args: argparse.Namespace) -> int:
    from invtransfer.config import describe_config

    if args.reference:
        from invtransfer.config.reference import config_reference

        sys.stdout.write(config_reference())
        return 0
    sys.stdout.write(describe_config(_config(args)))
    return 0


def _cmd_find(args: argparse.Namespace) -> int:
    from invtransfer.config import resolve_arch
    from invtransfer.experiments import build_plan

    config = _config(args)
    plan = build_plan(config)
    arch = resolve_arch(args.arch, config) if args.arch else None
    names = plan.find_models(
        arch=arch, transforms=args.transform, seed=args.seed, experiment=args.experiment
    )
    for name in names:
        print(f"{args.results}/models/{name}")
    if not names:
        archs = sorted({job.arch for job in plan.models.values()})
        seeds = sorted({job.seed for job in plan.models.values()})
        print(
            f"invtransfer find: no model of this config matches (architectures: "
            f"{', '.join(archs) or 'none'}; seeds: {', '.join(map(str, seeds)) or 'none'})",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from invtransfer.estimate import estimate, format_estimate
    from invtransfer.experiments import build_plan, finetune_regimes
    from invtransfer.jobgraph import JobGraph

    config = _config(args)
    plan = build_plan(config)
    jobs = JobGraph(config, plan, finetune_regimes(config)).jobs(args.targets)
    est = estimate(
        plan,
        jobs,
        device=args.device or config["device"],
        gpu=args.gpu,
        local=not args.no_calibrate,
    )
    label = (
        f"preset {config['preset']}" if config.get("preset") else "the paper's settings"
    ) + f", {config['seeds']} seed(s)"
    sys.stdout.write(format_estimate(est, targets=args.targets, label=label))
    return 0


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="a preset's Snakemake profile, e.g. profiles/tiny")
    p.add_argument("--preset", help="a preset by name (profiles/<preset>/overrides.yaml)")
    p.add_argument(
        "--configfile",
        action="append",
        default=[],
        metavar="FILE",
        help="your overlay (repeatable; later files win per key; for snakemake itself, list "
        "several files after one --configfile)",
    )
    p.add_argument("--base", default="config.yaml", help="the workflow's config.yaml")


def _cmd_materialize(args: argparse.Namespace) -> int:
    from invtransfer.datasets import dataset_name, materialize

    spec_path = Path(args.spec)
    try:
        spec = json.loads(spec_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--spec: {spec_path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--spec: {spec_path} is not valid JSON ({exc})") from exc
    out = Path(args.out) if args.out else Path(args.root) / dataset_name(spec)
    manifest = materialize(spec, out, chunk_size=args.chunk_size, threads=args.threads)
    print(f"{manifest['name']}: {sum(manifest['counts'].values())} images in {out}")
    return 0


def _cmd_render_epoch(args: argparse.Namespace) -> int:
    from invtransfer.datasets.epochs import render_training_epoch

    manifest = render_training_epoch(
        args.path, args.epoch, Path(args.out), chunk_size=args.chunk_size, threads=args.threads
    )
    print(
        f"epoch {args.epoch}: {manifest['counts']['train']} images of {manifest['name']} "
        f"(transform_seed {manifest['spec']['transform_seed']}) in {args.out}"
    )
    return 0


def _cmd_assets_rebuild(args: argparse.Namespace) -> int:
    from invtransfer.assets.bundle import rebuild_bundle
    from invtransfer.resources import resources_dir

    rebuild_bundle(Path(args.dest) if args.dest else resources_dir(), Path(args.workdir))
    return 0


# -- profile and export (invtransfer.profile, invtransfer.export) ------------------------------------
def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _cmd_profile(args: argparse.Namespace) -> int:
    from invtransfer.embedders import load_embedder
    from invtransfer.profile import ProbeOptions, ProfileOptions, profile_model, write_profile

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    spec = None
    if args.spec:
        try:
            spec = json.loads(Path(args.spec).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"--spec: {args.spec} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"--spec: {args.spec} is not valid JSON ({exc})") from exc
    probe = None
    if args.probe is not None:
        sizes = {"n_train": args.probe_samples, "epochs": args.probe_epochs}
        probe = ProbeOptions(
            transforms=_names(args.probe) if args.probe != "none" else (),
            **{k: v for k, v in sizes.items() if v is not None},
        )
    try:
        embedder = load_embedder(
            args.model, weights=args.weights, random_init=args.random_init,
            input_size=args.input_size, mean=args.mean, std=args.std, layer=args.layer,
            pool=args.pool, device=args.device, label=args.label,
        )  # fmt: skip
    except ImportError as exc:
        print(f"invtransfer profile: error: {exc}", file=sys.stderr)
        return 2
    given = {"n_pairs": args.pairs, "seed": args.seed, "chunk_size": args.chunk_size,
             "bins": args.bins}  # fmt: skip
    options = ProfileOptions(
        transforms=_names(args.transforms) if args.transforms else None,
        spec=spec,
        probe=probe,
        **{k: v for k, v in given.items() if v is not None},
    )
    result = profile_model(embedder, options)
    out = Path(args.out)
    folder = write_profile(result, out / embedder.label)
    print(f"{embedder.label}: {len(result.table)} transformations in {folder}")
    if not args.no_summary:
        from invtransfer.profile import summarize_profiles

        folders = sorted(p for p in out.iterdir() if (p / "profile.csv").is_file())
        summarize_profiles(folders, table=out / "profile.csv", curves=out / "curves.csv",
                           figure=out / "profile")  # fmt: skip
        print(f"{len(folders)} model(s) in {out / 'profile.csv'} and {out / 'profile.pdf'}")
    return 0


def _add_profile_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="invariance profile of any model: sens, relative invariance, CKA, flip rate",
        description="Renders Transforms-2D evaluation twins at the model's input size and "
        "measures how its representation moves under each transformation. Writes "
        "OUT/<label>/{profile.csv,curves.csv,info.json}, then merges every model folder in OUT "
        "into OUT/profile.csv, OUT/curves.csv and OUT/profile.pdf/.png.",
    )
    p.add_argument(
        "model",
        help="torchvision:<name> | timm:<name> (with --weights or --random-init), "
        "torchscript:<file> (or a file path), or a model folder results/models/<model>",
    )
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", help="local state-dict file (never downloaded)")
    w.add_argument("--random-init", type=int, metavar="SEED", help="seeded random weights")
    p.add_argument("--input-size", type=int, help="pixels (default: the model's)")
    p.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"), help="normalisation")
    p.add_argument("--std", type=float, nargs=3, metavar=("R", "G", "B"), help="normalisation")
    p.add_argument("--layer", default="penultimate", help="representation (default penultimate)")
    p.add_argument("--pool", default="flatten", choices=["flatten", "avg"],
                   help="for layers with spatial/token axes (default flatten)")  # fmt: skip
    p.add_argument("--label", help="name in tables and figures (default: from the model)")
    p.add_argument("--transforms", help="comma-separated (default: all 18)")
    # defaults: invtransfer.profile.ProfileOptions (1000 pairs, seed 0, chunks of 16, 5 bins)
    p.add_argument("--pairs", type=int, help="twin pairs per transformation")
    p.add_argument("--seed", type=int, help="dataset seed (objects, backgrounds, classes)")
    p.add_argument("--chunk-size", type=int, help="images rendered and embedded at a time")
    p.add_argument("--bins", type=int, help="magnitude bins per curve")
    p.add_argument("--spec", help="base dataset spec JSON (objects, backgrounds, options)")
    p.add_argument("--probe", metavar="T1,T2|none",
                   help="also train a linear probe on a Transforms-2D task with these transforms")  # fmt: skip
    p.add_argument("--probe-samples", type=int, help="probe training samples (ProbeOptions')")
    p.add_argument("--probe-epochs", type=int, help="probe epochs (ProbeOptions')")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads for rendering and the model (default: torch's; 1 is fastest on a busy "
        "2-core machine)",
    )
    p.add_argument("--out", required=True, help="folder of profiles (one subfolder per model)")
    p.add_argument("--no-summary", action="store_true", help="skip the merged table and figure")
    p.set_defaults(func=_cmd_profile)


def _cmd_export(args: argparse.Namespace) -> int:
    from invtransfer.export import export_dataset

    summary = export_dataset(
        args.dataset, args.out, format=args.format,
        splits=args.splits.split(",") if args.splits else None, shard_size=args.shard_size,
    )  # fmt: skip
    counts = ", ".join(f"{s} {n}" for s, n in summary["counts"].items())
    print(f"{summary['dataset']['name']}: {counts} images as {args.format} in {args.out}")
    return 0


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write a dataset folder as ImageFolder PNGs, WebDataset tars or Parquet"
    )
    p.add_argument("dataset", help="materialised dataset folder, e.g. results/datasets/<name>")
    p.add_argument("--format", required=True, choices=["imagefolder", "webdataset", "parquet"])
    p.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    p.add_argument("--splits", help="comma-separated (default: every split)")
    p.add_argument("--shard-size", type=int, default=10000, help="samples per tar/Parquet file")
    p.set_defaults(func=_cmd_export)


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _cmd_scorecard(args: argparse.Namespace) -> int:
    from invtransfer.reporting import pool_scorecard

    stand_in = {}
    for item in args.stand_in:
        fam, sep, arch = item.partition("=")
        if not sep or not fam or not arch:
            raise ValueError(f"--stand-in {item!r}: expected FAMILY=ARCH, e.g. it=vgg11_w")
        stand_in[fam] = arch
    pool_scorecard(args.tables, args.out, stand_in=stand_in, seed_resamples=args.seed_resamples)
    lines = Path(args.out).read_text().splitlines()
    for prefix in ("**Claims:", "**Failing by:", "**Resampling the", "**Per seed:"):
        line = next((ln for ln in lines if ln.startswith(prefix)), None)
        if line:
            print(line.strip("*"))
    print(f"wrote {args.out}")
    return 0


def _add_scorecard_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scorecard",
        help="the scorecard of tidy tables pooled from one or more runs (different seeds)",
        description="Checks the paper's claims on the mean over every seed of the given tidy "
        "tables (results/tables/*.csv of one or more runs of the same config with different "
        "seed_offset) and on each seed alone. Writes OUT, its CSV twin and OUT's _claims.csv.",
    )
    p.add_argument("tables", nargs="+", help="tidy tables, e.g. runA/results/tables/*.csv")
    p.add_argument("--out", required=True, help="Markdown file to write, e.g. pooled.md")
    p.add_argument(
        "--stand-in",
        action="append",
        default=[],
        metavar="FAMILY=ARCH",
        help="the architecture that stands in for ResNet-18 in it or tm (needed only when the "
        "family has several and no ResNet-18)",
    )
    p.add_argument(
        "--seed-resamples",
        type=_nonneg_int,
        default=None,
        metavar="N",
        help="check the claims again on N resamples of the seeds drawn with replacement (every "
        "distinct resample when there are no more than N; 0: none; default: as the workflow's "
        "scorecard); each costs about as much as checking the claims once",
    )
    p.set_defaults(func=_cmd_scorecard)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="invtransfer", description="Transforms-2D datasets, models, probes and sens."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="summarise an artifact folder (dataset, model, probe, ...)")
    p.add_argument("path", help="artifact folder, e.g. results/datasets/<name>")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser(
        "find",
        help="the model folders of a config that match (e.g. --arch resnet18 --transform rotate)",
    )
    p.add_argument("--arch", help="architecture (densenet = models.densenet)")
    p.add_argument(
        "--transform",
        action="append",
        default=[],
        help="trained with this transformation (repeatable: all of them; none: without any)",
    )
    p.add_argument("--seed", type=int, help="seed")
    p.add_argument("--experiment", choices=["tvo", "it", "tm", "ife"], help="experiment family")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    _add_config_options(p)
    p.set_defaults(func=_cmd_find)

    p = sub.add_parser("config", help="print the effective configuration with every key described")
    p.add_argument(
        "--reference",
        action="store_true",
        help="print the configuration reference instead (Markdown: every key, its default, what "
        "it accepts, its description; docs/CONFIG.md is this output)",
    )
    _add_config_options(p)
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser(
        "plan",
        help="what targets cost before they run: jobs per rule (as a Snakemake dry run from "
        "scratch), trained images x epochs per architecture, estimated time here and on a GPU",
    )
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="workflow targets as for snakemake, e.g. figures/fig2.pdf (default: all)",
    )
    p.add_argument(
        "--gpu",
        metavar="GPU",
        help="also estimate one such GPU: H100, H200 or A100 (from a throughput measured in "
        "bench/RESULTS.md, else FLOPs at the utilisation measured on another architecture or "
        "GPU, else at an assumed one; the output says which)",
    )
    p.add_argument(
        "--device",
        help="device to calibrate on (default: the config's `device`, auto = CUDA if present)",
    )
    p.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip the local calibration (job counts, work and the --gpu estimate only)",
    )
    _add_config_options(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("materialize", help="build a dataset folder from a JSON spec")
    p.add_argument("--spec", required=True, help="dataset spec as JSON (see docs/ARCHITECTURE.md)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="dataset folder to write (replaced atomically)")
    where.add_argument("--root", help="write to ROOT/<dataset name> instead")
    p.add_argument("--chunk-size", type=int, default=256, help="images per batch (default 256)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.set_defaults(func=_cmd_materialize)

    p = sub.add_parser(
        "render-epoch",
        help="write one epoch of a per-epoch training run's images as a dataset folder",
    )
    p.add_argument("path", help="run folder (metrics.json) or dataset folder (manifest.json)")
    p.add_argument(
        "--epoch", type=int, required=True, help="1-based, as in history.csv (1 = stored split)"
    )
    p.add_argument("--out", required=True, help="dataset folder to write (replaced atomically)")
    p.add_argument("--chunk-size", type=int, default=256, help="images per batch (default 256)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.set_defaults(func=_cmd_render_epoch)

    p = sub.add_parser("assets", help="asset bundle commands")
    asub = p.add_subparsers(dest="assets_command", required=True)
    r = asub.add_parser("rebuild", help="rebuild the asset bundle from the Debian packages")
    r.add_argument(
        "--dest",
        default=None,
        help="bundle folder (default: invtransfer.resources.resources_dir(), the package's "
        "resources/ or $INVTRANSFER_RESOURCES)",
    )
    r.add_argument("--workdir", required=True, help="scratch folder for downloads and extraction")
    r.set_defaults(func=_cmd_assets_rebuild)
    _add_profile_parser(sub)
    _add_export_parser(sub)
    _add_scorecard_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (bad input: one line on stderr, status 2; ``-v``: traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from invtransfer.device import setup_logging

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args))
    except (InvTransferError, FileNotFoundError, ValueError) as exc:
        if args.verbose:
            raise
        print(f"invtransfer {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
