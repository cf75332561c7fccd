"""The package's resources folder (this folder), and the one place that says where it is.

It ships with the package (package data: an installed copy, editable or not, has it) and holds
the asset bundle — objects, background photos and their licences, ``manifest.tsv``; see
:mod:`invtransfer.assets.bundle` — and the paper's numbers and claims read by the scorecard
(``paper_numbers.csv``, ``paper_claims.yaml``). ``$INVTRANSFER_RESOURCES`` points the package at
another folder of the same layout (e.g. a rebuilt bundle).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_RESOURCES", "resources_dir"]

ENV_RESOURCES = "INVTRANSFER_RESOURCES"


def resources_dir() -> Path:
    """``$INVTRANSFER_RESOURCES`` if set, else this folder of the installed package.

    Not checked here: each caller checks the files it needs and says how to fix a missing one
    (e.g. :func:`invtransfer.assets.bundle.bundle_dir`).
    """
    env = os.environ.get(ENV_RESOURCES)
    return Path(env) if env else Path(__file__).resolve().parent
