"""Invariance profile of any model (issue 16): model loading, twins, measures, curves, CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml
from support.workflow import SNAKEMAKE, TINY, copy_workflow, dry_run_counts, run
from torchvision.models.feature_extraction import create_feature_extractor

from invtransfer.cli import main
from invtransfer.datasets.builders import materialize
from invtransfer.datasets.store import load_split
from invtransfer.embedders import load_embedder, parse_model_ref
from invtransfer.errors import CheckpointError
from invtransfer.features import compute_features
from invtransfer.labeled_data import prepare_images
from invtransfer.profile import (
    ProfileOptions,
    embed_spec,
    magnitudes,
    profile_model,
    read_profile,
    summarize_profiles,
    twin_spec,
    write_profile,
)
from invtransfer.sensitivity import sens
from invtransfer.similarity import flip_rate, linear_cka, relative_invariance

# small and fast: 5 bundle objects on black backgrounds
BASE = {
    "kind": "t2d",
    "objects": {"source": "bundle", "count": 5},
    "backgrounds": {"source": "black"},
}
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A random-init torchvision ResNet-18 with 7 classes, saved as a plain state dict."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.resnet18(num_classes=7).eval()
    path = tmp_path_factory.mktemp("weights") / "r18.pt"
    torch.save(model.state_dict(), path)
    return path, model


def _normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    x = images.permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def test_torchvision_profile_equals_the_measures_on_materialized_twins(resnet18_file, tmp_path):
    path, model = resnet18_file
    emb = load_embedder("torchvision:resnet18", weights=path, input_size=64, device="cpu")
    assert (emb.label, emb.kind, emb.input_size, emb.classifier) == ("r18", "torchvision", 64, True)
    assert (emb.mean, emb.std) == IMAGENET  # from resnet18's weights metadata, nothing fetched
    assert emb.module.fc.out_features == 7  # classes read from the file
    options = ProfileOptions(transforms=("rotate", "h_flip"), n_pairs=12, chunk_size=5, spec=BASE)
    result = profile_model(emb, options)
    assert list(result.table["transform"]) == ["h_flip", "rotate"]  # registry order
    extractor = create_feature_extractor(model, {"flatten": "f", "fc": "logits"})
    for transform in ("h_flip", "rotate"):
        out = {}
        for twin in ("a", "b"):
            spec = twin_spec(BASE, transform, size=64, n=12, seed=0, twin=twin)
            materialize(spec, tmp_path / f"{transform}-{twin}", progress=False)
            split = load_split(tmp_path / f"{transform}-{twin}", "test")
            with torch.inference_mode():
                o = extractor(_normalise(split.images, *IMAGENET))
            out[twin] = (o["f"].numpy(), o["logits"].numpy(), split.meta)
            # the profile renders chunk by chunk what materialize writes
            rendered = embed_spec(emb, spec, chunk_size=5)
            pd.testing.assert_frame_equal(rendered.meta, split.meta.reset_index(drop=True))
        (fa, la, ma), (fb, lb, mb) = out["a"], out["b"]
        assert (ma["label"].to_numpy() == mb["label"].to_numpy()).all()  # twins
        assert not ma[f"{transform}.{'angle' if transform == 'rotate' else 'applied'}"].equals(
            mb[f"{transform}.{'angle' if transform == 'rotate' else 'applied'}"]
        )
        row = result.table.set_index("transform").loc[transform]
        assert row["sens"] == pytest.approx(sens(fa, fb), rel=1e-4)
        assert row["rel_inv"] == pytest.approx(relative_invariance(fa, fb), rel=1e-4, abs=1e-6)
        assert row["cka"] == pytest.approx(linear_cka(fa, fb), rel=1e-4)
        assert row["flip_rate"] == flip_rate(la, lb)
        assert (row["n"], row["input_size"], row["layer"]) == (12, 64, "penultimate")


def test_curves_bin_the_twins_by_magnitude(resnet18_file):
    path, _ = resnet18_file
    emb = load_embedder("torchvision:resnet18", weights=path, input_size=48, device="cpu")
    options = ProfileOptions(
        transforms=("h_flip", "hue"), n_pairs=16, chunk_size=16, spec=BASE, bins=4
    )
    result = profile_model(emb, options)
    flips = result.curves[result.curves["transform"] == "h_flip"].set_index("x_mean")
    # applied to neither or both twins: identical images, so zero distance
    assert flips.loc[0.0, "sens"] == 0.0 and flips.loc[2.0, "sens"] == 0.0
    assert flips.loc[1.0, "sens"] > 0.1
    for transform, part in result.curves.groupby("transform"):
        overall = result.table.set_index("transform").loc[transform, "sens"]
        # every pair is in the numerator (16 <= sens_pairs): overall = count-weighted bin mean
        assert (part["n"] * part["sens"]).sum() / part["n"].sum() == pytest.approx(
            overall, rel=1e-9
        )
        assert part["n"].sum() == 16
    hue = result.curves[result.curves["transform"] == "hue"]
    assert len(hue) == 4 and list(hue["n"]) == [4, 4, 4, 4]  # equal-count bins
    assert hue["x_name"].iloc[0] == "|Δ factor|"
    assert (hue["x_low"].diff().dropna() > 0).all()


def test_magnitudes_wrap_circular_parameters():
    a = pd.DataFrame({"rotate.angle": [10.0, 90.0]})
    b = pd.DataFrame({"rotate.angle": [350.0, 100.0]})
    x, name, discrete = magnitudes("rotate", a, b)
    assert x.tolist() == pytest.approx([20.0, 10.0]) and not discrete
    x, _, _ = magnitudes(
        "hue", pd.DataFrame({"hue.factor": [0.45]}), pd.DataFrame({"hue.factor": [-0.45]})
    )
    assert x.tolist() == pytest.approx([0.1])
    x, name, _ = magnitudes(
        "translate", pd.DataFrame({"translate.u_x": [0.1], "translate.u_y": [0.2]}),
        pd.DataFrame({"translate.u_x": [0.4], "translate.u_y": [0.6]}),
    )  # fmt: skip
    assert x.tolist() == pytest.approx([0.5]) and name == "‖Δ (u_x, u_y)‖"
    cols = ["noise.applied", "noise.seed"]
    a = pd.DataFrame([[True, 1], [False, 2], [True, 3]], columns=cols)
    b = pd.DataFrame([[True, 4], [False, 5], [False, 6]], columns=cols)
    x, name, discrete = magnitudes("noise", a, b)
    assert x.tolist() == [2.0, 0.0, 1.0] and discrete and name.startswith("twins applied")
    with pytest.raises(KeyError, match=r"twin a of 'rotate' lacks"):
        magnitudes("rotate", pd.DataFrame({"x": [1]}), b)


def test_project_model_folder(tmp_path):
    from invtransfer.pretraining import pretrain

    spec = {**BASE, "transforms": ["rotate"], "splits": {"train": 40, "val": 10, "test": 10},
            "image_size": 24}  # fmt: skip
    materialize(spec, tmp_path / "data", progress=False)
    folder = tmp_path / "results" / "models" / "cnn4--tiny"
    pretrain(tmp_path / "data", folder, arch="cnn4", arch_kwargs={"width": 4}, epochs=1,
             batch_size=16, device="cpu")  # fmt: skip
    emb = load_embedder(str(folder), device="cpu")
    assert (emb.kind, emb.label, emb.input_size) == ("project", "cnn4--tiny", 24)  # from the data
    assert (emb.mean, emb.std) == ((0.5,) * 3, (0.5,) * 3)
    images = load_split(tmp_path / "data", "test").images
    feats, preds = emb.embed(images)
    np.testing.assert_array_equal(feats, compute_features(emb.module, images, device="cpu"))
    with torch.inference_mode():
        logits = emb.module(prepare_images(images))
    np.testing.assert_array_equal(preds, logits.argmax(1).numpy())
    result = profile_model(emb, ProfileOptions(transforms=("scale",), n_pairs=8, spec=BASE))
    assert result.table["flip_rate"].notna().all() and result.info["model"]["arch"] == "cnn4"
    # other layers: the project's 'reference' and any submodule (models are not fx-traceable)
    ref, _ = load_embedder(str(folder), layer="reference", device="cpu").embed(images)
    np.testing.assert_array_equal(ref, feats)  # cnn4's reference layer is its penultimate one
    name = next(n for n, m in emb.module.named_modules() if isinstance(m, torch.nn.Conv2d))
    conv, _ = load_embedder(str(folder), layer=name, device="cpu").embed(images)
    assert conv.shape == (10, 4 * 24 * 24)  # flattened first conv output
    with pytest.raises(ValueError, match=r"unknown layer 'nope'.*reference"):
        load_embedder(str(folder), layer="nope", device="cpu")
    # without the training data the input size must be given
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "metrics.json").unlink()
    with pytest.raises(ValueError, match="input size is not known; pass input_size"):
        load_embedder(str(bare), device="cpu")
    assert load_embedder(str(bare), input_size=32, device="cpu").input_size == 32


def test_torchscript_model(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    assert parse_model_ref(str(path)) == ("torchscript", str(path))
    with pytest.raises(ValueError, match="input size is not known"):
        load_embedder(str(path), device="cpu")
    with pytest.raises(ValueError, match="normalisation is not known; pass mean and std"):
        load_embedder(str(path), input_size=32, device="cpu")
    emb = load_embedder(f"torchscript:{path}", input_size=32, mean=(0.5,) * 3, std=(0.25,) * 3,
                        device="cpu")  # fmt: skip
    images = torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)
    feats, preds = emb.embed(images)
    x = (images.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    np.testing.assert_allclose(feats, net(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert preds is None and not emb.classifier
    with pytest.raises(ValueError, match="gives its output only"):
        load_embedder(str(path), input_size=32, mean=(0,) * 3, std=(1,) * 3, layer="0")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a TorchScript archive"):
        load_embedder(str(junk), input_size=32, mean=(0,) * 3, std=(1,) * 3)


def test_model_loading_errors(resnet18_file, tmp_path):
    path, _ = resnet18_file
    with pytest.raises(FileNotFoundError, match=r"weights file .*missing\.pt does not exist"):
        load_embedder("torchvision:resnet18", weights=tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"does not match the architecture: \d+ missing key"):
        load_embedder("torchvision:resnet34", weights=path)
    with pytest.raises(ValueError, match="did you mean resnet18"):
        load_embedder("torchvision:resnet19", random_init=0)
    with pytest.raises(ValueError, match="exactly one of weights"):
        load_embedder("torchvision:resnet18")
    with pytest.raises(ValueError, match=r"unknown layer 'layer9'.*Valid: 'penultimate'.*layer4"):
        load_embedder("torchvision:resnet18", weights=path, layer="layer9")
    with pytest.raises(ValueError, match=r"no nn\.Linear classifier.*features"):
        load_embedder("torchvision:squeezenet1_1", random_init=0)
    with pytest.raises(FileNotFoundError, match="neither a model folder nor a file"):
        load_embedder("no/such/model")
    state = {"not": "tensors"}
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_embedder("torchvision:resnet18", weights=tmp_path / "bad.pt")
    # a named module and a graph node both work (create_feature_extractor)
    for layer, dim in (("layer4", 512 * 2 * 2), ("avgpool", 512)):
        emb = load_embedder("torchvision:resnet18", weights=path, layer=layer, input_size=64)
        feats, preds = emb.embed(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
        assert feats.shape == (2, dim) and preds.shape == (2,)


def test_timm_models(tmp_path):
    try:
        import timm
    except ImportError:
        with pytest.raises(ImportError, match=r"timm is not installed.*pip install timm"):
            load_embedder("timm:resnet18", random_init=0)
        pytest.skip("timm is not installed (optional); checked the error message instead")
    model = timm.create_model("resnet18", pretrained=False, num_classes=5)
    torch.save(model.state_dict(), tmp_path / "t.pt")
    emb = load_embedder("timm:resnet18", weights=tmp_path / "t.pt", input_size=64, device="cpu")
    feats, preds = emb.embed(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
    assert feats.shape == (2, 512) and preds.shape == (2,) and emb.module.num_classes == 5


def test_cli_profiles_two_models_into_one_table_and_figure(tmp_path, capsys):
    spec = tmp_path / "base.json"
    spec.write_text(json.dumps(BASE))
    out = tmp_path / "profiles"
    common = ["--input-size", "32", "--transforms", "hue,invert", "--pairs", "8", "--spec",
              str(spec), "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert main(["profile", "torchvision:resnet18", "--random-init", "0", *common]) == 0
    assert main(["profile", "torchvision:mobilenet_v3_small", "--random-init", "0", *common]) == 0
    table = pd.read_csv(out / "profile.csv")
    assert list(table["model"]) == ["mobilenet_v3_small-random0"] * 2 + ["resnet18-random0"] * 2
    assert list(table["transform"]) == ["hue", "invert"] * 2
    alone = read_profile(out / "resnet18-random0").table
    pd.testing.assert_frame_equal(table.iloc[2:].reset_index(drop=True), alone)
    pdf = (out / "profile.pdf").read_bytes()
    summarize_profiles(sorted(p for p in out.iterdir() if p.is_dir()), table=tmp_path / "t.csv",
                       figure=tmp_path / "again")  # fmt: skip
    assert (tmp_path / "again.pdf").read_bytes() == pdf  # deterministic figure
    assert (
        main(["profile", "torchvision:resnet18", "--weights", str(tmp_path / "x.pt"), *common]) == 2
    )
    assert "x.pt does not exist" in capsys.readouterr().err


def test_write_and_read_profile_round_trip(resnet18_file, tmp_path):
    path, _ = resnet18_file
    emb = load_embedder("torchvision:resnet18", weights=path, input_size=32, device="cpu")
    result = profile_model(emb, ProfileOptions(transforms=("grayscale",), n_pairs=8, spec=BASE))
    write_profile(result, tmp_path / "p")
    back = read_profile(tmp_path / "p")
    pd.testing.assert_frame_equal(back.table, result.table)
    assert back.info["model"]["weights_sha256"] == result.info["model"]["weights_sha256"]
    assert back.info["timing"]["images"] == 16
    with pytest.raises(ValueError, match="must not set"):
        twin_spec({**BASE, "seed": 3}, "hue", size=32, n=4, seed=0, twin="a")


def test_profile_job_from_a_config_entry(resnet18_file, tmp_path):
    from invtransfer.profile_jobs import profile_job

    path, _ = resnet18_file
    entry = {"model": "torchvision:resnet18", "weights": str(path), "input_size": 32, "label": "a"}
    settings = {"transforms": ["invert"], "pairs": 8, "spec": BASE}
    result = profile_job(entry, settings, tmp_path / "a", device="cpu")
    direct = profile_model(
        load_embedder("torchvision:resnet18", weights=path, input_size=32, label="a", device="cpu"),
        ProfileOptions(transforms=("invert",), n_pairs=8, spec=BASE),
    )
    pd.testing.assert_frame_equal(read_profile(tmp_path / "a").table, direct.table)
    assert list(result.table["model"]) == ["a"]
    with pytest.raises(ValueError, match=r"profile\.models\[\]: unknown key\(s\) \['weight'\]"):
        profile_job({"model": "torchvision:resnet18", "weight": "x"}, {}, tmp_path / "b")
    with pytest.raises(ValueError, match=r"profile: unknown key\(s\) \['pair'\]"):
        profile_job(entry, {"pair": 3}, tmp_path / "b")


def test_optional_linear_probe_on_a_t2d_task(resnet18_file):
    from invtransfer.engine import TrainHParams
    from invtransfer.probing import train_probe
    from invtransfer.profile import ProbeOptions

    path, _ = resnet18_file
    emb = load_embedder("torchvision:resnet18", weights=path, input_size=32, device="cpu")
    probe = ProbeOptions(transforms=("rotate",), n_train=30, n_val=10, n_test=10, epochs=3)
    result = profile_model(
        emb, ProfileOptions(transforms=("invert",), n_pairs=8, spec=BASE, probe=probe)
    )
    feats = {}
    for split, n in (("train", 30), ("val", 10), ("test", 10)):
        spec = twin_spec(BASE, ["rotate"], size=32, n=n, seed=0, twin=None, split=split)
        assert spec["transform_seed"] == 0  # a plain dataset, not a twin
        e = embed_spec(emb, spec, split=split)
        feats[split] = (e.features, e.meta["label"].to_numpy().copy())
    direct = train_probe(feats, num_classes=5, hparams=TrainHParams(epochs=3, seed=0), device="cpu")
    info = result.info["probe"]
    assert info["num_classes"] == 5 and info["counts"] == {"train": 30, "val": 10, "test": 10}
    assert info["test_accuracy"] == pytest.approx(direct.metrics["test_accuracy"])
    assert info["val_loss"] == pytest.approx(direct.metrics["val_loss"], rel=1e-5)


def test_default_labels_need_no_loading(tmp_path):
    from invtransfer.embedders import default_label

    (tmp_path / "models" / "resnet18--t2d--s0").mkdir(parents=True)
    (tmp_path / "net.pt").write_bytes(b"")
    assert default_label("torchvision:resnet50", "w/my weights.pt") == "my_weights"
    assert (
        default_label("timm:vit_small_patch16_224", random_init=3)
        == "vit_small_patch16_224-random3"
    )
    assert default_label(str(tmp_path / "net.pt")) == "net"
    assert default_label(str(tmp_path / "models" / "resnet18--t2d--s0")) == "resnet18--t2d--s0"


def test_config_section_planning(tmp_path):
    from invtransfer.config import schema_defaults
    from invtransfer.profile_jobs import profile_entries, profile_input_files

    defaults = schema_defaults()["profile"]  # the config's defaults are the API's
    options = ProfileOptions()
    assert (defaults["pairs"], defaults["seed"], defaults["chunk_size"], defaults["bins"]) == (
        options.n_pairs, options.seed, options.chunk_size, options.bins,
    )  # fmt: skip
    assert defaults["models"] == [] and defaults["transforms"] == "all"
    models = [
        {"model": "torchvision:resnet50", "weights": "w/r50.pt"},
        {"model": "torchvision:resnet50", "random_init": 0},
        {"model": "results/models/resnet18--t2d--s0--abc123"},  # not trained yet: fine
        {"model": "torchscript:nets/vit.pt", "input_size": 224, "label": "vit"},
    ]
    entries = profile_entries(models)
    assert list(entries) == ["r50", "resnet50-random0", "resnet18--t2d--s0--abc123", "vit"]
    assert [profile_input_files(e) for e in entries.values()] == [
        ["w/r50.pt"], [], ["results/models/resnet18--t2d--s0--abc123/model.pt"], ["nets/vit.pt"],
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"profile\.models\[1\]: label 'r50' is taken"):
        profile_entries([models[0], {"model": "timm:resnet50", "weights": "x/r50.pt"}])
    with pytest.raises(ValueError, match=r"needs exactly one of weights and random_init"):
        profile_entries([{"model": "torchvision:resnet50"}])
    with pytest.raises(ValueError, match=r"apply to torchvision:/timm: models only"):
        profile_entries([{"model": "results/models/m", "random_init": 1}])


@pytest.mark.workflow
def test_workflow_profile_target(tmp_path):
    """`snakemake figures/profile.pdf` with a profile section: one job per model, then the table
    and figure (a private copy of the workflow; tiny settings)."""
    wf = copy_workflow(tmp_path)
    overlay = {"profile": {
        "models": [{"model": "torchvision:resnet18", "random_init": 0, "input_size": 32},
                   {"model": "torchvision:resnet18", "random_init": 1, "input_size": 32,
                    "layer": "layer3", "pool": "avg", "label": "r18-layer3"}],
        "transforms": ["hue"], "pairs": 6, "spec": BASE,
    }}  # fmt: skip
    (wf / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    cmd = [*SNAKEMAKE, "figures/profile.pdf", *TINY, "--configfile", "overlay.yaml"]
    # one job per model, then the table and figure: nothing of the tiny preset's experiments
    assert dry_run_counts(run([*cmd, "-n"], cwd=wf).stdout) == {"profile": 2, "profile_summary": 1}
    run(cmd, cwd=wf)
    table = pd.read_csv(wf / "results/tables/profile.csv")
    assert list(table["model"]) == ["resnet18-random0", "r18-layer3"]
    assert list(table["layer"]) == ["penultimate", "layer3"] and (table["n"] == 6).all()
    assert (wf / "figures/profile.pdf").read_bytes().startswith(b"%PDF-")
