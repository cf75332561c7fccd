#!/usr/bin/env bash
# Snakemake runs this once, inside the freshly created envs/invtransfer.yaml environment, from
# the working directory of the run, after copying it to .snakemake/conda/<hash>.post-deploy.sh.
# So the repository is not found through this script's location: workflow/rules/common.smk sets
# INVTRANSFER_ROOT to the workflow's own folder (also when it runs with --directory or as a
# module of another workflow); without it, the working directory is tried.
set -euo pipefail
root="${INVTRANSFER_ROOT:-$(pwd -P)}"
if ! grep -qs '^name = "invtransfer"' "$root/pyproject.toml"; then
    echo "invtransfer post-deploy: '$root' is not the invtransfer repository (no pyproject.toml" \
        "naming invtransfer). Run Snakemake from the repository root, or set" \
        "INVTRANSFER_ROOT=/path/to/invtransfer." >&2
    exit 1
fi
# --no-deps: every dependency is pinned in the environment file (pip must not replace torch);
# --no-build-isolation: setuptools comes from the environment, so no index is needed here.
python -m pip install --no-deps --no-build-isolation --editable "$root"
python -c "import invtransfer, sys; print('invtransfer', invtransfer.__version__, 'from', invtransfer.__file__, file=sys.stderr)"
