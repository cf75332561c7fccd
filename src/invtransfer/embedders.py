"""Any image model as a function from ``uint8`` images to representations (and predictions).

The invariance profile (:mod:`invtransfer.profile`) measures models from outside this project, so
this module loads four kinds of model behind one interface, :class:`Embedder`:

==============  ===========================================  ===========================================
model argument  weights                                      input size and normalisation (default)
==============  ===========================================  ===========================================
torchvision:N   ``torchvision.models.get_model(N,            the metadata of N's default weights enum
                weights=None)`` + a local state-dict file    (crop size, mean, std); nothing is fetched
timm:N          ``timm.create_model(N, pretrained=False)``   ``timm.data.resolve_model_data_config``
                + a local file (needs ``pip install timm``)
torchscript:F   ``torch.jit.load(F)`` (or a plain file path)  none: ``input_size``, ``mean``, ``std`` needed
a folder        this project's ``<folder>/model.pt``          mean = std = 0.5 (the training
                (SHA-256 verified, ``checkpoint.load_model``) normalisation); size of its training data
==============  ===========================================  ===========================================

Weights always come from a local file (or ``random_init=SEED`` for a seeded random network, said
explicitly): nothing is downloaded. A state-dict file may hold the dict itself or wrap it as
``{"state_dict": ...}`` / ``{"model": ...}``; a DDP ``module.`` prefix on every key is dropped.
The number of classes is read from the classifier's weight in the file.

**The representation** (``layer``): ``"penultimate"`` (default) is the input of the classifier —
for torchvision the last ``nn.Linear`` (checked to produce the model's output), for timm
``forward_head(pre_logits=True)``, for this project ``Classifier.features`` (``"reference"`` gives
:data:`invtransfer.models.LAYERS`' other layer). Any other name is a node of
``torchvision.models.feature_extraction`` (``get_graph_node_names``, eval mode) for models it can
trace, else a submodule name (``named_modules``; this project's models, which check input shapes
in Python, are not traceable); an unknown name is a ``ValueError`` listing the valid ones. A
TorchScript model gives its output only (``layer="output"``). Outputs with spatial or token axes
are flattened (``pool="flatten"``) or averaged over them (``pool="avg"``: H×W, or the tokens).

**Predictions**: the model output when it is the classifier's (the flip rate needs them); none
for TorchScript models (their output is taken as the representation).

Why one module of ~650 lines: :class:`Embedder` is one contract over four kinds of model, and
:func:`load_embedder` resolves the model, its default input size/normalisation and the
representation layer together (which reader a layer needs — classifier input, FX node or forward
hook — depends on the kind just loaded). The per-kind loaders and the layer readers are private
helpers of :func:`load_embedder`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from invtransfer.device import autocast, describe_device, resolve_bf16, resolve_device
from invtransfer.errors import CheckpointError
from invtransfer.io import read_json, sha256_file

__all__ = [
    "MODEL_KINDS",
    "POOLS",
    "Embedder",
    "default_label",
    "layer_names",
    "load_embedder",
    "parse_model_ref",
]

log = logging.getLogger("invtransfer.embedders")

MODEL_KINDS: tuple[str, ...] = ("torchvision", "timm", "torchscript", "project")
POOLS: tuple[str, ...] = ("flatten", "avg")
PROJECT_MEAN_STD = (0.5, 0.5)  # labeled_data.prepare_images: (x/255 − 0.5)/0.5

Forward = Callable[[Tensor], tuple[Tensor, Tensor | None]]


# -- the interface --------------------------------------------------------------------------------
@dataclass
class Embedder:
    """A loaded model, ready to map uint8 N×H×W×3 images (at ``input_size``) to representations."""

    label: str  # short, path-safe name for tables and folders
    kind: str  # one of MODEL_KINDS
    module: nn.Module  # in eval mode, on ``device``
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layer: str
    pool: str
    classifier: bool  # True when embed() also returns predictions
    device: torch.device
    # provenance: weights file and SHA-256, where the input size and normalisation came from
    info: dict[str, Any] = field(default_factory=dict)
    forward: Forward | None = field(default=None, repr=False)

    def prepare(self, images_uint8: Tensor) -> Tensor:
        """uint8 N×H×W×3 → float32 N×3×H×W, ``(x/255 − mean)/std``, on the device."""
        if not isinstance(images_uint8, Tensor) or images_uint8.dtype != torch.uint8:
            raise TypeError(
                f"images must be a uint8 tensor, got {getattr(images_uint8, 'dtype', type(images_uint8))}"
            )
        shape = tuple(images_uint8.shape)
        if len(shape) != 4 or shape[3] != 3 or shape[1:3] != (self.input_size, self.input_size):
            raise TypeError(
                f"{self.label}: images must be N×{self.input_size}×{self.input_size}×3 (the model's "
                f"input size), got {shape}"
            )
        x = images_uint8.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)

    def embed(self, images_uint8: Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """``(representations float32 N×D, predicted classes int64 N or None)``; eval mode,
        ``inference_mode``, fp32 on the CPU (bf16 autocast on CUDA)."""
        assert self.forward is not None
        x = self.prepare(images_uint8)
        with torch.inference_mode(), autocast(self.device, resolve_bf16("auto", self.device)):
            rep, logits = self.forward(x)
        rep = _pooled(rep, self.pool, self.layer)
        preds = None
        if logits is not None:
            preds = logits.float().argmax(dim=1).cpu().numpy().astype(np.int64)
        return rep.float().cpu().numpy(), preds


def _pooled(rep: Any, pool: str, layer: str) -> Tensor:
    if not isinstance(rep, Tensor):
        raise TypeError(
            f"layer {layer!r} gives a {type(rep).__name__}, not a tensor; pick a layer with one "
            "tensor output"
        )
    if rep.dim() < 2:
        raise TypeError(f"layer {layer!r} gives shape {tuple(rep.shape)}; need N×D or more axes")
    if rep.dim() == 2:
        return rep
    if pool == "avg":
        return rep.mean(dim=(2, 3)) if rep.dim() == 4 else rep.flatten(2).mean(dim=1)
    return rep.flatten(1)


# -- parsing the model argument -------------------------------------------------------------------
def parse_model_ref(ref: str) -> tuple[str, str]:
    """``(kind, name or path)`` of a model argument: ``torchvision:NAME``, ``timm:NAME``,
    ``torchscript:FILE``, a folder of this project (``results/models/<M>``) or a TorchScript file."""
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"model must be a non-empty string, got {ref!r}")
    prefix, sep, rest = ref.partition(":")
    if sep and prefix in ("torchvision", "timm", "torchscript"):
        if not rest:
            raise ValueError(f"model {ref!r}: give a name after '{prefix}:'")
        return prefix, rest
    path = Path(ref)
    if path.is_dir():
        return "project", ref
    if path.is_file():
        return "torchscript", ref
    raise FileNotFoundError(
        f"model {ref!r} is neither a model folder nor a file, and has no known prefix; use "
        "torchvision:<name> (e.g. torchvision:resnet50 --weights resnet50.pt), timm:<name>, "
        "torchscript:<file.pt> or a folder results/models/<model> of this project"
    )


def default_label(
    model: str, weights: str | os.PathLike[str] | None = None, random_init: int | None = None
) -> str:
    """The label :func:`load_embedder` gives ``model`` when none is passed, computed without
    loading anything (a planner names the output folder with it): the weights file's stem,
    ``<name>-random<seed>``, the TorchScript file's stem, or the model folder's name."""
    kind, name = parse_model_ref(model)
    if kind in ("torchvision", "timm"):
        text = Path(weights).stem if weights is not None else f"{name}-random{random_init}"
    else:
        text = Path(name).stem if kind == "torchscript" else Path(name).name
    return _safe_label(text)


def _safe_label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._")
    if not label:
        raise ValueError(f"cannot make a label from {text!r}; pass label=")
    return label


# -- weights files --------------------------------------------------------------------------------
def _read_state_dict(path: Path, what: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{what}: weights file {path} does not exist (weights are never downloaded; save a "
            "state dict with torch.save(model.state_dict(), PATH), or pass random_init=SEED / "
            "--random-init SEED for a seeded random network)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{what}: weights file {path} cannot be read as a state dict "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(v, Tensor) for v in obj.values())
    ):
        raise CheckpointError(
            f"{what}: {path} does not hold a state dict (a mapping of parameter names to tensors)"
        )
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _load_state(module: nn.Module, state: Mapping[str, Tensor], path: Path, what: str) -> None:
    missing, unexpected = _key_diff(module, state)
    if missing or unexpected:
        raise CheckpointError(
            f"{what}: weights file {path} does not match the architecture: "
            f"{len(missing)} missing key(s) {missing[:5]}, {len(unexpected)} unexpected key(s) "
            f"{unexpected[:5]} — is it a state dict of this model?"
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{what}: weights file {path} does not match the architecture ({str(exc)[:400]})"
        ) from exc


def _key_diff(module: nn.Module, state: Mapping[str, Tensor]) -> tuple[list[str], list[str]]:
    expected = set(module.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"random_init must be a non-negative int seed, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _last_linear(module: nn.Module) -> tuple[str, nn.Linear] | None:
    found = None
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Linear):
            found = (name, sub)
    return found


# -- torchvision ----------------------------------------------------------------------------------
def _torchvision(
    name: str, weights: Path | None, random_init: int | None
) -> tuple[nn.Module, dict]:
    import torchvision
    from torchvision.models import get_model, list_models

    valid = list_models(module=torchvision.models)
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"torchvision has no classification model {name!r}{hint}; valid: {', '.join(valid)}"
        )
    what = f"torchvision:{name}"
    info: dict[str, Any] = {"torchvision": torchvision.__version__}
    if weights is None:
        model = _seeded(random_init, lambda: get_model(name, weights=None))  # type: ignore[arg-type]
        info["weights"] = f"random init, seed {random_init}"
        return model, info
    state = _read_state_dict(weights, what)
    model = get_model(name, weights=None)
    last = _last_linear(model)
    if last is not None and f"{last[0]}.weight" in state:
        classes = int(state[f"{last[0]}.weight"].shape[0])
        if classes != last[1].out_features:
            model = get_model(name, weights=None, num_classes=classes)
    _load_state(model, state, weights, what)
    info.update(weights=str(weights), weights_sha256=sha256_file(weights))
    return model, info


def _torchvision_defaults(name: str) -> tuple[int | None, tuple | None, tuple | None, str]:
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(name)
        preset = enum.DEFAULT.transforms()  # metadata only: builds the transform, fetches nothing
        return int(preset.crop_size[0]), tuple(preset.mean), tuple(preset.std), f"{enum.DEFAULT}"
    except (ValueError, AttributeError, KeyError, IndexError):
        return None, None, None, "none"


# -- timm -----------------------------------------------------------------------------------------
def _import_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise ImportError(
            "timm is not installed: timm:<name> models need it (pip install timm); torchvision, "
            "TorchScript and this project's models work without it"
        ) from None
    return timm


def _timm(name: str, weights: Path | None, random_init: int | None) -> tuple[nn.Module, dict]:
    timm = _import_timm()
    valid = timm.list_models()
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ValueError(f"timm has no model {name!r}{hint} (timm.list_models() lists them)")
    what = f"timm:{name}"
    info: dict[str, Any] = {"timm": timm.__version__}
    if weights is None:
        model = _seeded(random_init, lambda: timm.create_model(name, pretrained=False))  # type: ignore[arg-type]
        info["weights"] = f"random init, seed {random_init}"
        return model, info
    state = _read_state_dict(weights, what)
    model = timm.create_model(name, pretrained=False)
    classifier = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    if isinstance(classifier, str) and f"{classifier}.weight" in state:
        classes = int(state[f"{classifier}.weight"].shape[0])
        if classes != getattr(model, "num_classes", classes):
            model = timm.create_model(name, pretrained=False, num_classes=classes)
    _load_state(model, state, weights, what)
    info.update(weights=str(weights), weights_sha256=sha256_file(weights))
    return model, info


def _timm_defaults(model: nn.Module) -> tuple[int | None, tuple | None, tuple | None, str]:
    timm = _import_timm()
    cfg = timm.data.resolve_model_data_config(model)
    _, h, w = cfg["input_size"]
    size = int(h) if h == w else None
    return size, tuple(cfg["mean"]), tuple(cfg["std"]), "timm.data.resolve_model_data_config"


# -- this project's models ------------------------------------------------------------------------
def _project(folder: Path, device: torch.device) -> tuple[nn.Module, dict, int | None, str]:
    from invtransfer.checkpoint import load_model

    path = folder / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"model folder {folder} has no model.pt; pass a folder results/models/<model> written "
            "by the pretrain rule (or a file: torchscript:<file>)"
        )
    model = load_model(path, device)  # verifies the SHA-256 record
    info = {"weights": str(path), "weights_sha256": sha256_file(path), "arch": model.arch,
            "arch_kwargs": dict(model.arch_kwargs)}  # fmt: skip
    size, source = None, "none"
    metrics = folder / "metrics.json"
    if metrics.is_file():
        dataset = (read_json(metrics).get("dataset") or {}).get("path")
        manifest = Path(dataset) / "manifest.json" if dataset else None
        if manifest is not None and manifest.is_file():
            shape = read_json(manifest).get("image_shape") or []
            if len(shape) == 3 and shape[0] == shape[1]:
                size, source = int(shape[0]), f"training data {manifest}"
    return model, info, size, source


# -- representation readers -----------------------------------------------------------------------
def layer_names(module: nn.Module) -> tuple[list[str], str]:
    """The names a representation layer can take for ``module`` and how they are read:
    ``(names, "fx")`` (torchvision feature-extraction graph nodes, eval mode, then the names of
    the modules that contain nodes, e.g. ``layer4``) when the model can be traced, else
    ``(names, "module")`` (submodule names, read with a forward hook)."""
    from torchvision.models.feature_extraction import get_graph_node_names

    modules = [n for n, _ in module.named_modules() if n]
    try:
        _, nodes = get_graph_node_names(module)
    except Exception as exc:  # fx raises many kinds of errors on untraceable Python control flow
        log.debug(
            "not traceable by torch.fx (%s: %s); using submodule names", type(exc).__name__, exc
        )
        return modules, "module"
    # a module name stands for the last node inside it (create_feature_extractor's rule)
    nodes = [n for n in nodes if n != "x"]
    prefixes = {n.rsplit(".", k)[0] for n in nodes for k in range(1, n.count(".") + 1)}
    return nodes + [m for m in modules if m not in nodes and m in prefixes], "fx"


def _unknown_layer(layer: str, names: Sequence[str], how: str, what: str) -> ValueError:
    close = difflib.get_close_matches(layer, names, n=5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    kind = "graph nodes and modules" if how == "fx" else "submodules"
    return ValueError(
        f"{what}: unknown layer {layer!r}.{hint} Valid: 'penultimate' or one of its "
        f"{len(names)} {kind}: {', '.join(names)}"
    )


def _hook_forward(module: nn.Module, layer: str, classifier: bool) -> Forward:
    sub = dict(module.named_modules())[layer]
    captured: list[Tensor] = []

    def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
        captured.append(out)

    def forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
        captured.clear()
        handle = sub.register_forward_hook(hook)
        try:
            out = module(x)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise ValueError(
                f"layer {layer!r} ran {len(captured)} times in one forward pass; pick a module "
                "that runs exactly once"
            )
        return captured[0], (out if classifier else None)

    return forward


def _fx_forward(module: nn.Module, layer: str, classifier: bool) -> Forward:
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    _, nodes = get_graph_node_names(module)
    final = nodes[-1]  # the last node computes the model's output
    wanted = {layer: "representation"}
    if classifier and final != layer:
        wanted[final] = "output"
    extractor = create_feature_extractor(module, return_nodes=wanted).eval()
    checked: list[bool] = []

    def forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
        out = extractor(x)
        rep = out["representation"]
        logits = out.get("output", rep) if classifier else None
        if classifier and not checked:  # once: the last graph node must give the model's output
            full = module(x[:2])
            if not (isinstance(full, Tensor) and torch.allclose(full, logits[:2], atol=1e-4)):
                raise ValueError(
                    f"graph node {final!r} does not give the model's output; cannot read "
                    f"predictions next to layer {layer!r}"
                )
            checked.append(True)
        return rep, logits

    return forward


def _classifier_forward(module: nn.Module, what: str) -> Forward:
    """Penultimate of a torchvision-style model: the input of its last ``nn.Linear``, which must
    produce the model's output (checked on every batch)."""
    last = _last_linear(module)
    if last is None:
        names, _ = layer_names(module)
        raise ValueError(
            f"{what} has no nn.Linear classifier, so 'penultimate' is not defined; pass "
            f"layer=<name> (--layer) with one of: {', '.join(names)}"
        )
    name, linear = last
    seen: dict[str, Tensor] = {}

    def pre(_m: nn.Module, inp: tuple[Tensor, ...]) -> None:
        seen["in"] = inp[0]

    def post(_m: nn.Module, _inp: Any, out: Tensor) -> None:
        seen["out"] = out

    def forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
        seen.clear()
        handles = [linear.register_forward_pre_hook(pre), linear.register_forward_hook(post)]
        try:
            out = module(x)
        finally:
            for h in handles:
                h.remove()
        if "out" not in seen or not isinstance(out, Tensor) or out is not seen["out"]:
            raise ValueError(
                f"{what}: its last nn.Linear ({name}) does not produce the model's output, so "
                "its input is not the penultimate representation; pass --layer <name>"
            )
        return seen["in"], out

    return forward


# -- loading --------------------------------------------------------------------------------------
def _triple(name: str, value: Any) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 3 numbers (R, G, B), got {value!r}") from None
    if len(vals) != 3 or not all(np.isfinite(vals)):
        raise ValueError(f"{name} must be 3 finite numbers (R, G, B), got {value!r}")
    if name == "std" and min(vals) <= 0:
        raise ValueError(f"std must be positive, got {value!r}")
    return vals  # type: ignore[return-value]


def load_embedder(
    model: str,
    *,
    weights: str | os.PathLike[str] | None = None,
    random_init: int | None = None,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    layer: str = "penultimate",
    pool: str = "flatten",
    device: str | torch.device = "auto",
    label: str | None = None,
) -> Embedder:
    """Load ``model`` (see the module docstring for the forms) as an :class:`Embedder`.

    ``input_size``, ``mean``, ``std`` override the defaults of the model's kind (required for
    TorchScript). torchvision and timm models need exactly one of ``weights`` (a local file) and
    ``random_init`` (a seed). Errors: a missing file is a ``FileNotFoundError``; a file that is not
    a state dict of the model a ``CheckpointError`` naming the missing/unexpected keys; unknown
    model names, layers and bad values a ``ValueError`` listing the valid ones; timm absent an
    ``ImportError`` saying how to install it.
    """
    kind, name = parse_model_ref(model)
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
    if not isinstance(layer, str) or not layer:
        raise ValueError(f"layer must be a non-empty string, got {layer!r}")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    wpath = Path(weights) if weights is not None else None
    if kind in ("torchvision", "timm"):
        if (wpath is None) == (random_init is None):
            raise ValueError(
                f"{kind}:{name}: give exactly one of weights (a local state-dict file; nothing is "
                "downloaded) and random_init (a seed for a random network)"
            )
    elif wpath is not None or random_init is not None:
        raise ValueError(
            f"{model}: weights/random_init apply to torchvision: and timm: models only "
            f"({kind} models carry their weights)"
        )
    d_size: int | None = None
    d_mean: tuple | None = None
    d_std: tuple | None = None
    source = "none"
    what = f"{kind}:{name}" if kind in ("torchvision", "timm") else str(model)
    if kind == "torchvision":
        module, info = _torchvision(name, wpath, random_init)
        d_size, d_mean, d_std, source = _torchvision_defaults(name)
    elif kind == "timm":
        module, info = _timm(name, wpath, random_init)
        d_size, d_mean, d_std, source = _timm_defaults(module)
    elif kind == "torchscript":
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"TorchScript file {path} does not exist")
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise CheckpointError(
                f"{path} is not a TorchScript archive ({type(exc).__name__}: {str(exc)[:200]}); "
                "for a state dict use torchvision:<name> or timm:<name> with --weights"
            ) from exc
        info = {"weights": str(path), "weights_sha256": sha256_file(path)}
    else:
        folder = Path(name)
        module, info, d_size, source = _project(folder, dev)
        d_mean, d_std = (PROJECT_MEAN_STD[0],) * 3, (PROJECT_MEAN_STD[1],) * 3
    size = input_size if input_size is not None else d_size
    if size is None:
        raise ValueError(
            f"{what}: its input size is not known; pass input_size (--input-size, e.g. 224)"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"input_size must be a positive int, got {size!r}")
    if (mean is None and d_mean is None) or (std is None and d_std is None):
        raise ValueError(
            f"{what}: its input normalisation is not known; pass mean and std (--mean R G B "
            "--std R G B), e.g. ImageNet's 0.485 0.456 0.406 / 0.229 0.224 0.225"
        )
    mean_t = _triple("mean", mean if mean is not None else d_mean)
    std_t = _triple("std", std if std is not None else d_std)
    module = module.to(dev).eval()
    forward, classifier = _reader(kind, module, layer, what)
    info.update(
        model=str(model), kind=kind, device=describe_device(dev),
        defaults_from=source if (input_size is None or mean is None or std is None) else "arguments",
    )  # fmt: skip
    emb = Embedder(
        label=_safe_label(label) if label is not None else default_label(model, wpath, random_init),
        kind=kind, module=module, input_size=size, mean=mean_t, std=std_t, layer=layer,
        pool=pool, classifier=classifier, device=dev, info=info, forward=forward,
    )  # fmt: skip
    log.info(
        "%s (%s): input %d px, mean %s, std %s, layer %s, %s, device %s",
        emb.label, what, size, mean_t, std_t, layer,
        "with classifier" if classifier else "no classifier", describe_device(dev),
    )  # fmt: skip
    return emb


def _reader(kind: str, module: nn.Module, layer: str, what: str) -> tuple[Forward, bool]:
    """The forward function giving ``(representation, logits or None)`` and whether the model has
    a classifier."""
    if kind == "torchscript":
        if layer not in ("output", "penultimate"):
            raise ValueError(
                f"{what}: a TorchScript model gives its output only; layer must be 'output' "
                f"(got {layer!r})"
            )

        def script_forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
            return module(x), None

        return script_forward, False
    if kind == "project":
        from invtransfer.models import LAYERS

        if layer == "penultimate":

            def features_forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
                rep = module.features(x)
                return rep, module.head(rep)

            return features_forward, True
        if layer in LAYERS:

            def layer_forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
                return module.representation(x, layer), module(x)

            return layer_forward, True
    if layer == "penultimate":
        if kind == "timm":
            if not getattr(module, "num_classes", 0):
                raise ValueError(f"{what} has no classifier (num_classes 0); pass --layer")

            def timm_forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
                feats = module.forward_features(x)
                return module.forward_head(feats, pre_logits=True), module.forward_head(feats)

            return timm_forward, True
        return _classifier_forward(module, what), True
    names, how = layer_names(module)
    if layer not in names:
        extra = list(names) if kind != "project" else ["reference", *names]
        raise _unknown_layer(layer, extra, how, what)
    if how == "fx":
        return _fx_forward(module, layer, True), True
    return _hook_forward(module, layer, True), True
