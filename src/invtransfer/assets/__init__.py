"""Object prototypes, background photographs and the background bank (paper App. A.1).

See ``docs/ARCHITECTURE.md`` ("Assets") for the contract and :mod:`invtransfer.assets.bundle`
for the embedded Debian-derived bundle and its rebuild.
"""

from invtransfer.assets.backgrounds import (
    CROPS,
    DEFAULT_BANK_SIZE,
    DEFAULT_SPLIT_PHOTOS,
    SPLIT_PHOTOS_MODES,
    SPLITS,
    BackgroundCrops,
    BackgroundPhoto,
    background_bank,
    background_photo_names,
    load_background_photos,
    photo_split,
    plan_background_crops,
    resolve_crops,
    split_photo_counts,
)
from invtransfer.assets.bundle import (
    bundle_dir,
    read_bundle_manifest,
    rebuild_bundle,
    verify_bundle,
)
from invtransfer.assets.objects import (
    DEFAULT_OBJECT_COUNT,
    ObjectImage,
    available_object_names,
    load_objects,
    selected_object_names,
)

__all__ = [
    "CROPS",
    "DEFAULT_BANK_SIZE",
    "DEFAULT_OBJECT_COUNT",
    "DEFAULT_SPLIT_PHOTOS",
    "SPLITS",
    "SPLIT_PHOTOS_MODES",
    "BackgroundCrops",
    "BackgroundPhoto",
    "ObjectImage",
    "available_object_names",
    "background_bank",
    "background_photo_names",
    "bundle_dir",
    "load_background_photos",
    "load_objects",
    "photo_split",
    "plan_background_crops",
    "read_bundle_manifest",
    "rebuild_bundle",
    "resolve_crops",
    "selected_object_names",
    "split_photo_counts",
    "verify_bundle",
]
