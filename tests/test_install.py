"""``pip install .`` (not editable) ships what the package needs: the resources folder (asset
bundle, paper numbers and claims) and the configuration schema resolve inside site-packages, and
a dataset materialized by the installed copy is byte-identical to one from the source tree."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SPEC = {
    "kind": "t2d",
    "objects": {"source": "bundle", "count": 5},
    "transforms": ["rotate", "hue"],
    "splits": {"train": 60, "val": 10, "test": 10},
    "seed": 1,
}

CHECK = """
import json, sys
from pathlib import Path

import invtransfer
from invtransfer.artifacts import PANELS
from invtransfer.assets.bundle import bundle_dir, read_bundle_manifest, verify_bundle
from invtransfer.claims import load_claims
from invtransfer.config import load_config, schema_defaults
from invtransfer.datasets import materialize
from invtransfer.resources import resources_dir
from invtransfer.scorecard import load_paper_numbers

verify_bundle()  # every bundled file against its SHA-256 in manifest.tsv
spec, out, base = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
manifest = materialize(spec, out, progress=False)
print(json.dumps({
    "package": invtransfer.__file__,
    "resources": str(resources_dir()),
    "bundle": str(bundle_dir()),
    "bundle_files": len(read_bundle_manifest()),
    "paper_numbers": len(load_paper_numbers(panels=PANELS)),
    "claims": len(load_claims(panels=PANELS)),
    "seeds_default": schema_defaults()["seeds"],
    "tiny_n_train": load_config(base / "config.yaml", preset="tiny")["data"]["n_train"],
    "shards": [s["sha256"] for s in manifest["shards"]],
    "samples": manifest["samples"]["sha256"],
}))
"""


@pytest.mark.slow
def test_a_non_editable_install_has_its_resources_and_schema(tmp_path):
    # a copy of what `pip install .` reads, so the build writes nothing into the checkout
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    # A fresh environment: the heavy dependencies (torch, numpy, ...) and the build backend come
    # from this interpreter's site-packages via a .pth file (the venv's own site-packages comes
    # first); invtransfer itself is installed into the venv, without dependencies or network.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INVTRANSFER_RESOURCES")}
    env["PYTHONNOUSERSITE"] = "1"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.strip()
    )  # fmt: skip
    (purelib / "_host_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         str(source)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    shutil.rmtree(source)  # nothing may be read from the source tree after the install

    run = subprocess.run(
        [str(python), "-c", CHECK, json.dumps(SPEC), str(tmp_path / "installed"), str(ROOT)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])

    package = Path(got["package"]).parent
    assert package == purelib / "invtransfer"
    assert Path(got["resources"]) == package / "resources" == Path(got["bundle"])
    assert (package / "config.schema.yaml").is_file() and got["seeds_default"] == 10
    assert got["tiny_n_train"] == 400  # presets compose with the installed schema

    # the same bundle, numbers and claims as the source tree
    from invtransfer.artifacts import PANELS
    from invtransfer.assets.bundle import read_bundle_manifest
    from invtransfer.claims import load_claims
    from invtransfer.datasets import materialize
    from invtransfer.scorecard import load_paper_numbers

    assert got["bundle_files"] == len(read_bundle_manifest()) == 296 + 27
    assert got["paper_numbers"] == len(load_paper_numbers(panels=PANELS))
    assert got["claims"] == len(load_claims(panels=PANELS))
    # and the dataset the installed copy renders is the source tree's, byte for byte
    manifest = materialize(SPEC, tmp_path / "from-source", progress=False)
    assert got["shards"] == [s["sha256"] for s in manifest["shards"]]
    assert got["samples"] == manifest["samples"]["sha256"]
