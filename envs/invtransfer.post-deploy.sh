#!/usr/bin/env bash
# Snakemake runs this once, inside the freshly created envs/invtransfer.yaml environment, from
# the working directory of the run (normally the repository root), after copying it to
# .snakemake/conda/<hash>.post-deploy.sh. So the repository is found through the working
# directory, not through this script's location. Set INVTRANSFER_ROOT when running Snakemake
# from elsewhere (--directory).
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
