"""Readable folder names: what a model is trained on, in a few words a person can search for.

A model lives in ``results/models/<arch>--<training data>--s<seed>--<hash6>``, one path
component. The training-data part starts with the experiment family:

====================  =============================================  ==========================
family                training data                                  example
====================  =============================================  ==========================
tvo                   ``tvo-<t2d|cifar10|cifar100>-<T>-<K>c-<size>``  ``tvo-t2d-rotate+hue+blur-30c-50k``
it                    ``it-<image|random>-<t|none>-<K>c-<size>``      ``it-image-rotate-30c-50k``
tm                    ``tm-<T>-<K>c-<size>``                          ``tm-scale+hue+noise+5more-30c-50k``
ife                   ``ife-<variant>-<X_Y>[-cor<a>|-av<b>]-<size>``  ``ife-fixed-c_c-cropflip-all``
====================  =============================================  ==========================

``T``: the transformations joined by ``+`` (``none`` without any; after three, ``+<n>more``);
``K``: classes; size: training images (``50k``) or, for CIFAR, images per class (``4500pc``,
``all``); IFE ``X_Y``: features and labels (``c_c``, ``co_c``, ``co_o``, ``o_o`` for C/C, C+O/C,
C+O/O, O/O), then the augmentation if any (``cropflip``). The hash (of everything that determines the weights) keeps names unique.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["count_label", "ife_label", "transforms_label"]

IFE_LABELS = {"C/C": "c_c", "C+O/C": "co_c", "C+O/O": "co_o", "O/O": "o_o"}


def count_label(n: int | float | str | None, *, per_class: bool = False) -> str:
    """``50000`` → ``50k``, ``400`` → ``400``, ``None``/``"all"`` → ``all``; with ``per_class``
    a count gets ``pc`` (images per class)."""
    if n is None or n == "all":
        return "all"
    if isinstance(n, float):
        return f"{n:g}"
    text = f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
    return f"{text}pc" if per_class else text


def transforms_label(names: Sequence[str]) -> str:
    """``rotate+hue+blur``; ``none`` for no transformation; the first three and ``+<n>more``."""
    if not names:
        return "none"
    if len(names) <= 3:
        return "+".join(names)
    return "+".join(names[:3]) + f"+{len(names) - 3}more"


def ife_label(variant: str, core: str, *, correlation: float = 0.0, availability: float = 1.0,
              n_train: int | None = None, augment: str = "none") -> str:  # fmt: skip
    """``ife-<variant>-<X_Y>[-<augment>][-cor<a>|-av<b>]-<size>`` (the sweeps' neutral values
    and no augmentation are not written)."""
    parts = ["ife", variant, IFE_LABELS[core]]
    if augment != "none":
        parts.append(augment.replace("-", ""))
    if correlation != 0.0:
        parts.append(f"cor{correlation:g}")
    if availability != 1.0:
        parts.append(f"av{availability:g}")
    parts.append(count_label(n_train))
    return "-".join(parts)
