"""Where the repository's ``resources/`` folder is: the single source of truth for its location.

``resources/`` holds the asset bundle (objects, background photos, licences; see
:mod:`invtransfer.assets.bundle`) and the paper's claims and numbers read by the scorecard. It is
not Python package data, so a non-editable install must be pointed at a checkout's
``resources/`` with ``$INVTRANSFER_RESOURCES``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_RESOURCES", "resources_dir"]

ENV_RESOURCES = "INVTRANSFER_RESOURCES"


def resources_dir() -> Path:
    """``$INVTRANSFER_RESOURCES`` if set, else the checkout's ``resources/`` folder.

    Not checked here: each caller checks the files it needs and says how to fix a missing one
    (e.g. :func:`invtransfer.assets.bundle.bundle_dir`).
    """
    env = os.environ.get(ENV_RESOURCES)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "resources"
