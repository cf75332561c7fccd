"""docs/CONFIG.md is the schema's configuration reference, generated and up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from invtransfer.config import schema_defaults
from invtransfer.config.reference import config_reference

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "CONFIG.md"
REGENERATE = "python -m invtransfer config --reference > docs/CONFIG.md"


def _leaves(mapping, prefix=""):
    for key, value in mapping.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and key != "arch_kwargs":
            yield from _leaves(value, path)
        else:
            yield path, value


def test_docs_config_md_is_up_to_date():
    assert DOC.read_text() == config_reference(), f"docs/CONFIG.md is out of date: run {REGENERATE}"


def test_the_cli_prints_the_reference():
    proc = subprocess.run(
        [sys.executable, "-m", "invtransfer", "config", "--reference"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert proc.stdout == config_reference()


def test_every_key_is_listed_with_its_default_and_description():
    text = config_reference()
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    leaves = dict(_leaves(schema_defaults()))
    assert len(leaves) > 100
    assert set(leaves) <= set(rows)
    for key, default in leaves.items():
        shown = rows[key][1].strip("`").replace("\\|", "|")
        assert yaml.safe_load(shown) == default, key
        assert rows[key][3], f"{key} has no description"
    # sections are listed too, and the accepted values come from the schema
    assert rows["training.pretrain"][2] == "section"
    assert rows["assets.objects.source"][2] == "one of `bundle`, `si-score`, `folder`, `emoji`"
    assert rows["seeds"][2] == "integer ≥ 1"
    assert rows["image_size"][2] == "integer ≥ 16, ≤ 256"
