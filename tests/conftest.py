"""Fixtures shared by several test modules. (The test tiers, ``pytest --tier ...``, are the
plugin ``support.tiers``, loaded by pyproject.toml's pytest options.)"""

from __future__ import annotations

import pytest
from support.workflow import build_tiny_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """A private copy of the workflow in which the tiny preset's standard targets
    (``support.workflow.TINY_TARGETS``) were built, once per session (about 3-5 min on the
    2-core machine). Read-only for tests: work on ``support.workflow.clone_run(tiny_run, dest)``
    to change anything (a dry run, too: Snakemake writes its metadata). Only tests marked
    ``workflow`` may use it."""
    return build_tiny_run(tmp_path_factory.mktemp("tiny-run"))


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory):
    """A folder of four small smooth 64×48 'photos' (``photo0.png`` … ``photo3.png``): a
    ``folder`` background source that is fast to load and independent of the bundle. Read-only
    for tests."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    yy, xx = np.mgrid[0:48, 0:64]
    for i in range(4):
        rgb = np.stack(
            [(xx * (i + 1) * 3) % 256, (yy * 5 + 40 * i) % 256, ((xx + yy) * 2 + 60 * i) % 256],
            axis=-1,
        ).astype(np.uint8)
        Image.fromarray(rgb, "RGB").save(folder / f"photo{i}.png")
    return folder


@pytest.fixture
def one_torch_thread():
    """torch on one thread during the test, restored afterwards (the 2-core CI machine is shared:
    two threads per test process oversubscribe it). Modules use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
