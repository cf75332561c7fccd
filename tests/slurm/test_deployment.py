"""Fast checks of the deployment files, without a cluster: the SLURM and GPU profiles, the conda
environment and its post-deploy script, and the HTML report captions.

They catch drift between these files and the rules (a new rule group without a grouping entry, a
new figure without a caption, a runtime dependency missing from the environment) and prove the
mechanisms the files rely on: profile expressions reading the environment, the `gpu` counter,
the post-deploy install from a copied script, captions included by wildcard.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from support.workflow import copy_workflow, dry_run_counts

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "workflow" / "rules"
REPORT = ROOT / "workflow" / "report"
SLURM_PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
GPU_PROFILE = ROOT / "profiles" / "gpu" / "config.yaml"
CI_PROFILE = Path(__file__).resolve().parent / "ci-profile" / "config.yaml"
ENV_FILE = ROOT / "envs" / "invtransfer.yaml"
POST_DEPLOY = ROOT / "envs" / "invtransfer.post-deploy.sh"
GPU_RULES = {"pretrain", "finetune", "features", "sens"}

# the SLURM + deployment tier (tests/conftest.py), with the cluster tests of this folder
pytestmark = pytest.mark.slurm


def _rules_text() -> str:
    return "\n".join(p.read_text() for p in sorted(RULES.glob("*.smk")))


def _directive_values(directive: str) -> list[str]:
    """The quoted values of a one-value directive (`group:`, `conda:`) across all rules."""
    return re.findall(rf'^\s+{directive}:\s*\n\s+"([^"]+)"', _rules_text(), flags=re.M)


def _clean_env() -> dict[str, str]:
    """This process's environment without SLURM settings (a test may run inside a job)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}


def _snakemake(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    cmd = [sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


# ---- SLURM profile ---------------------------------------------------------------------------
def test_slurm_profile_groups_every_rule_group():
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    groups = set(_directive_values("group"))
    assert groups, "no rule declares a group: the profile's group-components would do nothing"
    assert set(profile["group-components"]) == groups, (
        f"rules use groups {sorted(groups)}, profiles/slurm groups {sorted(profile['group-components'])}"
    )


def test_slurm_profile_settings():
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1 and profile["latency-wait"] >= 30
    resources = profile["default-resources"]
    assert {"slurm_partition", "slurm_account", "mem_mb", "runtime", "cpus_per_task"} <= set(
        resources
    )
    assert "attempt" in str(resources["mem_mb"]), "retries should ask for more memory"
    # trap 3: flags the plugin manages itself must not hide in slurm_extra
    assert "slurm_extra" not in resources
    # every rule's threads fit the per-job cap (a larger value would be silently lowered)
    threads = [int(t) for t in re.findall(r"^\s+threads:\s*(\d+)", _rules_text(), flags=re.M)]
    assert max(threads) <= profile["cores"], (threads, profile["cores"])


def test_ci_overlay_leaves_the_profile_under_test_alone():
    """The SLURM test must exercise profiles/slurm's own executor, retries and resources."""
    overlay = yaml.safe_load(CI_PROFILE.read_text())
    assert not {"executor", "retries", "default-resources", "cores"} & set(overlay)
    assert overlay["slurm-status-command"] == "squeue"  # no slurmdbd on the test cluster


def test_slurm_profile_resources_on_the_real_workflow(tmp_path):
    """Dry run of the tiny preset: partition/account from the environment, GPUs, threads, groups."""
    wf = copy_workflow(tmp_path)
    env = {**_clean_env(), "SBATCH_PARTITION": "gpuq", "SBATCH_ACCOUNT": "proj42"}
    out = _snakemake(
        [
            *("--profile", "profiles/slurm", "--workflow-profile", "none"),
            *("--configfile", "profiles/tiny/overrides.yaml", "-n"),
        ],
        cwd=wf,
        env=env,
    )
    blocks = re.split(r"^\s*(?:local)?rule (\w+):\s*$", out, flags=re.M)
    seen_rules = set()
    for rule, body in zip(blocks[1::2], blocks[2::2], strict=True):
        res = re.search(r"^\s+resources: (.*)$", body, flags=re.M)
        if res is None:
            continue
        threads = re.search(r"^\s+threads: (\d+)$", body, flags=re.M)
        seen_rules.add(rule)
        res = res.group(1)
        assert "slurm_partition=gpuq" in res and "slurm_account=proj42" in res, (rule, res)
        assert ("gpu=1" in res) == (rule in GPU_RULES), (rule, res)
        cpus = re.search(r"cpus_per_task=(\d+)", res)
        assert cpus and cpus.group(1) == (threads.group(1) if threads else "1"), (rule, res)
    # every rule of the dry run (local rules too) was checked; the tiny preset fine-tunes nothing
    assert seen_rules == set(dry_run_counts(out)), out[-3000:]
    assert GPU_RULES & seen_rules == {"pretrain", "features", "sens"}
    for group in set(_directive_values("group")):
        assert f"Group job {group} " in out, f"no {group!r} group job in the dry run"


def test_slurm_profile_without_partition_variables_leaves_the_choice_to_slurm(tmp_path):
    toy = Path(__file__).resolve().parent / "toy" / "Snakefile"
    out = _snakemake(
        ["-s", str(toy), "--profile", str(SLURM_PROFILE.parent), "-n"], tmp_path, _clean_env()
    )
    # empty -> the plugin uses the cluster's default partition and guesses the account
    assert "slurm_partition=, slurm_account=," in out, out[-2000:]


# ---- local GPU profile -----------------------------------------------------------------------
GPU_TOY = """
rule all:
    input: expand("out/{i}.txt", i=range(3))
rule gpu_job:
    output: "out/{i}.txt"
    resources: gpu=1
    shell: "date +%s.%N > {output}.tmp; sleep 0.6; date +%s.%N >> {output}.tmp; mv {output}.tmp {output}"
"""


def test_gpu_profile_runs_one_gpu_job_at_a_time(tmp_path):
    (tmp_path / "Snakefile").write_text(GPU_TOY)
    out = _snakemake(["--profile", str(GPU_PROFILE.parent), "--cores", "3"], tmp_path)
    assert 'Provided resources: gpu=Resource("gpu", 1)' in out  # from profiles/gpu
    spans = sorted(
        tuple(map(float, (tmp_path / "out" / f"{i}.txt").read_text().split())) for i in range(3)
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"two gpu=1 jobs overlapped with gpu=1 provided: {spans}"


# ---- conda environment -----------------------------------------------------------------------
def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_conda_env_pins_every_runtime_dependency():
    from packaging.requirements import Requirement
    from packaging.version import Version

    env = yaml.safe_load(ENV_FILE.read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps, "Snakemake's script preamble needs the host's Python version"
    assert "pip" in deps and any(str(d).startswith("setuptools") for d in deps)
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    pins = {}
    for line in pip:
        assert "==" in line, f"unpinned pip dependency {line!r}"
        assert not line.startswith(("-e", ".")), (
            f"{line!r}: relative paths resolve against .snakemake/conda/, not envs/"
        )
        name, version = line.split("==")
        pins[_canonical(name)] = Version(version)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        if req.name == "snakemake":  # scripts import the host's Snakemake, not the env's
            continue
        assert _canonical(req.name) in pins, f"{req.name} missing from {ENV_FILE.name}"
        assert pins[_canonical(req.name)] in req.specifier, (spec, pins[_canonical(req.name)])


def test_rules_point_at_the_environment_file():
    paths = set(_directive_values("conda"))
    assert paths, "no rule has a conda: directive"
    for path in paths:
        assert (RULES / path).resolve() == ENV_FILE, path


def _env_file_requirement(name: str) -> str:
    """The conda dependency line for ``name`` in envs/invtransfer.yaml (e.g. "setuptools>=70.1")."""
    deps = yaml.safe_load(ENV_FILE.read_text())["dependencies"]
    found = [d for d in deps if isinstance(d, str) and re.match(rf"{name}\b", d)]
    assert len(found) == 1, f"envs/invtransfer.yaml should name {name} once, found {found}"
    return found[0].replace(" ", "")


def _venv(path: Path) -> Path:
    """An isolated venv holding what the conda environment file gives the post-deploy script:
    pip and the build backend it names (setuptools), nothing borrowed from the host."""
    venv.EnvBuilder(system_site_packages=False, with_pip=True).create(path)
    python = path / "bin" / "python"
    req = _env_file_requirement("setuptools")
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", req],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"installing {req} into the test environment:\n{proc.stderr[-3000:]}"
    )
    return python


def test_post_deploy_script_installs_the_package_like_snakemake_does(tmp_path):
    """Snakemake copies the script to .snakemake/conda/<hash>.post-deploy.sh and runs it with
    the new environment active, from the working directory (the repository root)."""
    python = _venv(tmp_path / "env")
    copied = tmp_path / ".snakemake" / "conda" / "0123abcd.post-deploy.sh"
    copied.parent.mkdir(parents=True)
    shutil.copy2(POST_DEPLOY, copied)
    env = {**_clean_env(), "PATH": f"{python.parent}:{_clean_env()['PATH']}"}
    proc = subprocess.run(
        ["bash", str(copied)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    site = next((tmp_path / "env" / "lib").glob("python3*/site-packages"))
    dist = next(site.glob("invtransfer-*.dist-info"), None)
    assert dist is not None, (
        f"invtransfer not installed into the environment: {list(site.iterdir())}"
    )
    direct = json.loads((dist / "direct_url.json").read_text())
    assert direct["dir_info"].get("editable") is True
    assert direct["url"] == ROOT.as_uri()

    # from anywhere else it refuses, naming the fix
    proc = subprocess.run(
        ["bash", str(copied)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "INVTRANSFER_ROOT" in proc.stderr


# ---- report captions -------------------------------------------------------------------------
def _artifact_names() -> list[str]:
    """Every figure/table name the report rules accept (the artifact registry)."""
    from invtransfer.artifacts import ARTIFACTS

    return [a.name for a in ARTIFACTS.values() if a.kind in ("figure", "table", "example")]


def test_every_artifact_has_a_caption():
    from invtransfer.artifacts import ARTIFACTS

    names = _artifact_names()
    assert "fig2" in names and "table2" in names
    missing = [n for n in [*names, "scorecard"] if not ARTIFACTS[n].caption.strip()]
    assert not missing, f"registry entries without a caption: {missing}"
    assert (REPORT / "artifact.rst").exists() and (REPORT / "workflow.rst").exists()


def _render(template: Path, config: dict, wildcards: dict, caption: str | None = None) -> str:
    """Render a caption the way Snakemake's report does (Jinja2, then docutils)."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    env = Environment(trim_blocks=True, lstrip_blocks=True)
    snakemake = SimpleNamespace(
        config=config,
        wildcards=SimpleNamespace(**wildcards),
        params=SimpleNamespace(caption=caption),
    )
    text = env.from_string(template.read_text()).render(snakemake=snakemake)
    return publish_parts(text, writer="html")["body"]


@pytest.mark.parametrize(
    ("overlay", "preset"),
    [
        (None, "the paper's settings"),
        ("quick", "the quick preset"),
        ("tiny", "the tiny preset"),
    ],
)
def test_captions_render_and_name_the_preset(overlay, preset):
    """The captions name the preset the workflow composed (config key `preset`, as the profiles
    set it), not a guess from its sizes."""
    from invtransfer.artifacts import ARTIFACTS
    from invtransfer.config import load_config

    config = load_config(ROOT / "config.yaml", preset=overlay)
    for name in [*_artifact_names(), "scorecard"]:
        art = ARTIFACTS[name]
        html = _render(REPORT / "artifact.rst", config, {"artifact": name}, art.caption_rst)
        assert art.title.split(" -- ")[0] in html, (name, html[:500])
        assert preset in html and "system-message" not in html, (name, html)
    assert preset in _render(REPORT / "workflow.rst", config, {})


def test_captions_of_a_preset_sized_config_without_the_preset_say_custom():
    from invtransfer.config import load_config

    quick = load_config(ROOT / "config.yaml", ROOT / "profiles/quick/overrides.yaml")
    assert quick["preset"] is None
    assert "a custom configuration" in _render(REPORT / "workflow.rst", quick, {})


# The toy reads the effective configuration as common.smk composes it (config.yaml alone is
# empty: the schema holds the defaults the captions print).
REPORT_TOY = """
from invtransfer.artifacts import ARTIFACTS
from invtransfer.config import load_config
config.update(load_config("config.yaml").to_dict())
report: "workflow/report/workflow.rst"
rule all:
    input: "figures/fig4.pdf", "tables/table2.md", "figures/fig1.pdf"
rule figure:
    output: report("figures/{artifact}.pdf", caption="workflow/report/artifact.rst", category="Figures")
    wildcard_constraints: artifact="fig4"
    params: caption=lambda w: ARTIFACTS[w.artifact].caption_rst
    shell: "echo {wildcards.artifact} > {output}"
rule table:
    output: report("tables/{artifact}.md", caption="workflow/report/artifact.rst", category="Tables")
    wildcard_constraints: artifact="table2"
    params: caption=lambda w: ARTIFACTS[w.artifact].caption_rst
    shell: "echo {wildcards.artifact} > {output}"
rule example_figure:
    output: report("figures/{artifact}.pdf", caption="workflow/report/artifact.rst", category="Data")
    wildcard_constraints: artifact="fig1"
    params: caption=lambda w: ARTIFACTS[w.artifact].caption_rst
    shell: "echo {wildcards.artifact} > {output}"
"""


def test_snakemake_report_includes_the_captions(tmp_path):
    """`snakemake --report` with one caption file for a wildcard rule: the per-artifact text,
    picked by wildcard, ends up in the HTML."""
    (tmp_path / "workflow").mkdir()
    shutil.copytree(REPORT, tmp_path / "workflow" / "report")
    shutil.copy2(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "Snakefile").write_text(REPORT_TOY)
    _snakemake(["--cores", "1"], tmp_path)
    _snakemake(["--report", "report.html"], tmp_path)
    html = (tmp_path / "report.html").read_text()
    for text in (
        "Invariance mismatch, ResNet-18",
        "Transforms-2D examples",
        "This report was built by",
    ):
        assert text in html, text
    assert "Problems with" not in html  # docutils' message for a failed include
