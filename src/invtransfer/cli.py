"""Command line: ``invtransfer`` / ``python -m invtransfer``.

Subcommands::

    inspect PATH                                  summary of an artifact folder (exit 1 if damaged)
    materialize --spec SPEC.json --out DIR        build a dataset folder from a spec
    render-epoch RUN --epoch E --out DIR          epoch E's training images of a per-epoch run
    assets rebuild --dest resources --workdir TMP rebuild the object/background bundle
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

    rebuild_bundle(Path(args.dest), Path(args.workdir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="invtransfer", description="Transforms-2D datasets, models, probes and sens."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="summarise an artifact folder (dataset, model, probe, ...)")
    p.add_argument("path", help="artifact folder, e.g. results/datasets/<name>")
    p.set_defaults(func=_cmd_inspect)

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
    r = asub.add_parser("rebuild", help="rebuild resources/ from the Debian packages")
    r.add_argument("--dest", default="resources", help="bundle folder (default: resources)")
    r.add_argument("--workdir", required=True, help="scratch folder for downloads and extraction")
    r.set_defaults(func=_cmd_assets_rebuild)
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
