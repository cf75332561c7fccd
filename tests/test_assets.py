"""Assets: the embedded bundle, the four object sources, background photos and the background bank."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invtransfer.assets import (
    SPLITS,
    BackgroundPhoto,
    available_object_names,
    background_bank,
    background_photo_names,
    bundle_dir,
    load_background_photos,
    load_objects,
    photo_split,
    plan_background_crops,
    read_bundle_manifest,
    resolve_crops,
    split_photo_counts,
    verify_bundle,
)
from invtransfer.assets import bundle as bundle_mod
from invtransfer.assets import emoji as emoji_mod
from invtransfer.assets import siscore as siscore_mod
from invtransfer.errors import AssetError, ConfigError
from invtransfer.io import sha256_file

FIXTURE = Path(__file__).parent / "fixtures" / "si-score-mini"
SISCORE_CLASSES = [
    "bagel", "koala", "lemon", "printer", "starfish", "strawberry", "toaster", "vase", "zebra",
]  # fmt: skip


# -- helpers --------------------------------------------------------------------------------------


def _rgba(h: int = 6, w: int = 5, seed: int = 0) -> np.ndarray:
    """A small opaque-centre RGBA image whose alpha touches all four borders."""
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    a[..., 3] = 255
    return a


def _save_rgba(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGBA").save(path)
    return path


def _touches_all_borders(alpha: np.ndarray) -> bool:
    return bool(alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any())


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- the embedded bundle -----------------------------------------------------------------------------


def test_bundle_manifest_sha256_match_files_and_licences_present() -> None:
    root = bundle_dir()
    entries = read_bundle_manifest(root)
    objects = [e for e in entries if e.kind == "object"]
    photos = [e for e in entries if e.kind == "background"]
    assert len(objects) == 296 and len(photos) == 27
    assert sorted(e.default_rank for e in objects if e.default_rank is not None) == list(range(61))
    for e in entries:
        assert sha256_file(root / e.file) == e.sha256, e.file
        assert e.package in bundle_mod.PACKAGES and e.version == bundle_mod.PACKAGES[e.package]
        assert e.licence and e.path_in_package and e.attribution
        assert (root / "licenses" / e.package / "copyright").is_file()
    assert {e.licence for e in photos} == {
        "GPL-2+", "LGPL-3", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-SA-3.0", "CC0-1.0",
    }  # fmt: skip
    for lic in bundle_mod.COMMON_LICENCES:
        assert (root / "licenses" / "common" / lic).stat().st_size > 100
    assert len({e.name for e in objects}) == 296 and len({e.name for e in photos}) == 27
    verify_bundle(root)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    manifest_files = {e.file for e in entries}
    bundle_size = sum(
        p.stat().st_size
        for p in root.rglob("*")
        if p.is_file()
        and (
            p.relative_to(root).as_posix() in manifest_files
            or p.parts[len(root.parts)] in bundle_mod.BUNDLE_ENTRIES
        )
    )
    assert bundle_size < 6.5e6, f"bundle is {bundle_size / 1e6:.2f} MB (folder {size / 1e6:.2f} MB)"


def test_bundled_objects_are_tight_rgba_at_most_128px() -> None:
    root = bundle_dir()
    for e in read_bundle_manifest(root):
        with Image.open(root / e.file) as im:
            if e.kind == "object":
                assert im.format == "PNG" and im.mode == "RGBA", e.file
                a = np.asarray(im)
                assert max(a.shape[:2]) <= 128 and a.shape[:2] == (e.height, e.width), e.file
                assert _touches_all_borders(a[..., 3]), f"{e.file} is not tight-cropped"
                assert not a[a[..., 3] == 0, :3].any(), f"{e.file}: hidden pixels have colour"
            else:
                assert im.format == "JPEG" and im.mode == "RGB", e.file
                assert max(im.size) <= 512 and im.size == (e.width, e.height), e.file


def test_default_61_load_in_list_order() -> None:
    objs = load_objects({"source": "bundle"})
    with open(bundle_dir() / "lists" / "tuxpaint_default61.tsv", newline="") as fh:
        default = [r["path_in_package_stamps_folder"] for r in csv.DictReader(fh, delimiter="\t")]
    assert [o.source for o in objs] == [f"bundle:{p}" for p in default]
    assert [o.name for o in objs[:4]] == ["banana", "binoculars", "broccoli", "european-bear"]
    assert load_objects({})[0].name == "banana"  # source defaults to bundle
    for o in objs:
        assert o.rgba.dtype == np.uint8 and o.rgba.ndim == 3 and o.rgba.shape[2] == 4
        assert not o.rgba.flags.writeable  # cached arrays are shared, so read-only


def test_bundle_count_takes_default_then_list_order() -> None:
    with open(bundle_dir() / "lists" / "tuxpaint_photo_objects.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    rest = [r["path"] for r in rows if r["in_default_61"] == "0"]
    objs = load_objects({"source": "bundle", "count": 70})
    assert len(objs) == 70
    assert [o.name for o in objs[:61]] == [o.name for o in load_objects({})]
    assert [o.source for o in objs[61:]] == [f"bundle:{p}" for p in rest[:9]]
    names = available_object_names({"source": "bundle"})
    assert len(names) == 296 and names[:70] == [o.name for o in objs]
    assert len(load_objects({"source": "bundle", "count": 296})) == 296
    # Shared categories: the first keeps the bare name, others get their stem / folder-stem.
    assert {"strawberry", "fruit-strawberry", "cep", "cep-1", "cep-2", "747"} <= set(names)


@pytest.mark.parametrize("count", [0, 297, -3])
def test_count_out_of_range_is_an_error(count: int) -> None:
    with pytest.raises(ConfigError, match=rf"count={count}.*1\.\.296"):
        load_objects({"source": "bundle", "count": count})


def test_names_selection_and_unknown_names() -> None:
    objs = load_objects({"source": "bundle", "names": ["zebra", "banana", "747"]})
    assert [o.name for o in objs] == ["zebra", "banana", "747"]
    assert objs[2].source == "bundle:vehicles/flight/planes/747.png"
    with pytest.raises(ConfigError, match=r"'bananna'.*close matches: banana"):
        load_objects({"source": "bundle", "names": ["zebra", "bananna"]})
    with pytest.raises(ConfigError, match="not both"):
        load_objects({"source": "bundle", "names": ["zebra"], "count": 3})
    with pytest.raises(ConfigError, match="twice"):
        load_objects({"source": "bundle", "names": ["zebra", "zebra"]})


def test_config_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="colour"):
        load_objects({"source": "bundle", "colour": "red"})
    with pytest.raises(ConfigError, match=r"font.*emoji"):
        load_objects({"source": "bundle", "font": "/x.ttf"})
    with pytest.raises(ConfigError, match=r"'sisscore'.*close matches: si-score"):
        load_objects({"source": "sisscore"})
    # Schema defaults (download: false, null paths) are accepted for every source.
    assert len(load_objects({"source": "bundle", "download": False, "font": None})) == 61


def test_bundle_file_altered_is_detected(tmp_path: Path) -> None:
    root = bundle_dir()
    copy = tmp_path / "bundle"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("paper_*"))
    banana = copy / "objects/food/fruit/banana.png"
    a = np.array(Image.open(banana))
    a[a[..., 3] > 0, 0] ^= 1
    Image.fromarray(a).save(banana)
    with pytest.raises(AssetError, match=r"banana\.png.*does not match"):
        load_objects({"source": "bundle", "path": str(copy), "names": ["banana"]})
    with pytest.raises(AssetError, match=r"banana\.png"):
        verify_bundle(copy)


def test_resources_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from invtransfer.resources import ENV_RESOURCES, resources_dir

    assert (resources_dir() / "manifest.tsv").is_file() and bundle_dir() == resources_dir()
    monkeypatch.setenv(ENV_RESOURCES, str(tmp_path / "nowhere"))
    assert resources_dir() == tmp_path / "nowhere"  # the one place that knows the folder
    with pytest.raises(AssetError, match=r"nowhere.*INVTRANSFER_RESOURCES"):
        bundle_dir()


# -- SI-Score ------------------------------------------------------------------------------------------


def test_siscore_one_lexicographically_first_image_per_sorted_class() -> None:
    objs = load_objects({"source": "si-score", "path": str(FIXTURE)})
    assert [o.name for o in objs] == SISCORE_CLASSES
    koala = objs[1]
    assert koala.source == "si-score:koala/koala1.png"
    expected = np.asarray(Image.open(FIXTURE / "foregrounds/koala/koala1.png"))
    np.testing.assert_array_equal(koala.rgba, expected)  # not the mirrored koala2.png
    assert all(_touches_all_borders(o.rgba[..., 3]) for o in objs)
    assert available_object_names({"source": "si-score", "path": str(FIXTURE)}) == SISCORE_CLASSES
    assert [o.name for o in load_objects({"source": "si-score", "path": str(FIXTURE), "count": 2})] == [
        "bagel", "koala",
    ]  # fmt: skip
    small = load_objects(
        {"source": "si-score", "path": str(FIXTURE), "names": ["zebra"], "max_size": 16}
    )
    assert max(small[0].rgba.shape[:2]) == 16


def test_siscore_backgrounds_load() -> None:
    photos = load_background_photos({"source": "si-score", "path": str(FIXTURE)})
    assert [p.name for p in photos] == sorted(p.stem for p in (FIXTURE / "backgrounds").iterdir())
    assert "forest1" in {p.name for p in photos}  # .jpeg accepted
    assert all(p.rgb.dtype == np.uint8 and p.rgb.shape[2] == 3 for p in photos)


def test_siscore_missing_folder_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(AssetError) as info:
        load_objects({"source": "si-score", "path": str(tmp_path / "si-score")})
    msg = str(info.value)
    assert str(tmp_path / "si-score" / "foregrounds") in msg
    assert siscore_mod.SISCORE_URL in msg and "foregrounds/<class>/<file>.png" in msg
    assert "download: true" in msg
    with pytest.raises(ConfigError, match="path is required"):
        load_objects({"source": "si-score"})


def _checksums(root: Path, dest: Path) -> Path:
    lines = [
        f"{sha256_file(p)}  {p.relative_to(root).as_posix()}"
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.parts[len(root.parts)] in ("foregrounds", "backgrounds")
    ]
    dest.write_text("\n".join(lines) + "\n")
    return dest


def test_siscore_download_is_off_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(url: str, timeout: float = 60.0) -> bytes:
        raise AssertionError(f"fetched {url} although download is off")

    monkeypatch.setattr(siscore_mod, "fetch", no_network)
    root = tmp_path / "si"
    root.mkdir()
    _checksums(FIXTURE, root / "SHA256SUMS")
    with pytest.raises(AssetError, match=r"SI-Score folder not found.*s3\.us-east-1"):
        load_objects({"source": "si-score", "path": str(root)})
    with pytest.raises(AssetError, match=r"nolist.*SHA-256 list"):
        load_objects({"source": "si-score", "path": str(tmp_path / "nolist"), "download": True})


def test_siscore_download_from_file_url_verifies_checksums(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    real_fetch = siscore_mod.fetch

    def counting(url: str, timeout: float = 60.0) -> bytes:
        calls.append(url)
        return real_fetch(url, timeout)

    monkeypatch.setattr(siscore_mod, "fetch", counting)
    sums = _checksums(FIXTURE, tmp_path / "list.sha256")
    root = tmp_path / "si"
    cfg = {
        "source": "si-score", "path": str(root), "download": True,
        "checksums": str(sums), "url": FIXTURE.as_uri() + "/",
    }  # fmt: skip
    objs = load_objects(cfg)
    assert [o.name for o in objs] == SISCORE_CLASSES
    assert len(calls) == 10 and all(u.startswith("file://") for u in calls)  # 9 classes + koala2
    assert (root / "SHA256SUMS").read_bytes() == sums.read_bytes()  # recorded for later runs
    photos = load_background_photos({**cfg, "source": "si-score"})
    assert len(photos) == 8 and len(calls) == 18
    load_objects(cfg)  # everything present and verified: nothing fetched again
    assert len(calls) == 18
    # The recorded list is the default once the data is there.
    rec = {"source": "si-score", "path": str(root), "download": True, "url": FIXTURE.as_uri()}
    assert len(load_objects(rec)) == 9 and len(calls) == 18


def test_siscore_download_rejects_a_checksum_mismatch(tmp_path: Path) -> None:
    sums = _checksums(FIXTURE, tmp_path / "list.sha256")
    text = sums.read_text().replace(sha256_file(FIXTURE / "foregrounds/lemon/lemon1.png"), "0" * 64)
    sums.write_text(text)
    root = tmp_path / "si"
    cfg = {
        "source": "si-score", "path": str(root), "download": True,
        "checksums": str(sums), "url": FIXTURE.as_uri(),
    }  # fmt: skip
    with pytest.raises(AssetError, match=r"lemon1\.png.*SHA-256 mismatch.*expected 0{64}"):
        load_objects(cfg)
    assert not (root / "foregrounds/lemon/lemon1.png").exists()
    bad = tmp_path / "bad.sha256"
    bad.write_text("abc  foregrounds/x.png\n")
    with pytest.raises(ConfigError, match=r"bad\.sha256:1"):
        siscore_mod.read_checksums(bad)
    bad.write_text(f"{'a' * 64}  ../etc/passwd\n")
    with pytest.raises(ConfigError, match="inside the root"):
        siscore_mod.read_checksums(bad)


# -- folder source and bad inputs ------------------------------------------------------------------


def test_folder_source_one_class_per_file(tmp_path: Path) -> None:
    _save_rgba(tmp_path / "b_cup.png", _rgba(seed=1))
    _save_rgba(tmp_path / "a_key.png", _rgba(seed=2))
    (tmp_path / "NOTES.txt").write_text("ignored: not an image")
    objs = load_objects({"source": "folder", "path": str(tmp_path)})
    assert [o.name for o in objs] == ["a_key", "b_cup"]
    assert objs[0].source == "folder:a_key.png"
    np.testing.assert_array_equal(objs[0].rgba, _rgba(seed=2))


def test_folder_source_one_class_per_subfolder(tmp_path: Path) -> None:
    _save_rgba(tmp_path / "dog" / "x.png", _rgba(seed=3))
    _save_rgba(tmp_path / "cat" / "2.png", _rgba(seed=4))
    _save_rgba(tmp_path / "cat" / "1.png", _rgba(seed=5))
    objs = load_objects({"source": "folder", "path": str(tmp_path)})
    assert [o.name for o in objs] == ["cat", "dog"]
    assert objs[0].source == "folder:cat/1.png"
    np.testing.assert_array_equal(objs[0].rgba, _rgba(seed=5))


def test_folder_source_crops_converts_and_zeroes_hidden_pixels(tmp_path: Path) -> None:
    a = np.zeros((10, 12, 4), np.uint8)
    a[..., :3] = 200  # colour under transparent pixels must not survive
    a[2:5, 3:9, 3] = 255
    _save_rgba(tmp_path / "rgba.png", a)
    Image.fromarray(np.stack([a[..., 0], a[..., 3]], -1), "LA").save(tmp_path / "la.png")
    pal = Image.fromarray(np.where(a[..., 3] > 0, 1, 0).astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 10, 20, 30])
    pal.save(tmp_path / "pal.png", transparency=0)
    objs = {o.name: o.rgba for o in load_objects({"source": "folder", "path": str(tmp_path)})}
    assert {k: v.shape for k, v in objs.items()} == {k: (3, 6, 4) for k in ("la", "pal", "rgba")}
    np.testing.assert_array_equal(objs["pal"][0, 0], [10, 20, 30, 255])
    big = np.zeros((40, 20, 4), np.uint8)
    big[..., 3] = 255
    _save_rgba(tmp_path / "sub" / "big.png", big)
    (tmp_path / "sub" / "big.png").replace(tmp_path / "big.png")
    (tmp_path / "sub").rmdir()
    small = load_objects(
        {"source": "folder", "path": str(tmp_path), "names": ["big"], "max_size": 8}
    )
    assert small[0].rgba.shape == (8, 4, 4)


def test_object_errors_name_the_culprit(tmp_path: Path) -> None:
    missing = tmp_path / "nothere"
    with pytest.raises(AssetError, match=str(missing)):
        load_objects({"source": "folder", "path": str(missing)})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AssetError, match=rf"{empty}.*empty object folder"):
        load_objects({"source": "folder", "path": str(empty)})

    cases = {
        "rgb": lambda p: Image.fromarray(_rgba()[..., :3], "RGB").save(p),
        "gray": lambda p: Image.fromarray(_rgba()[..., 0], "L").save(p),
        "corrupt": lambda p: p.write_bytes((lambda b: b[: len(b) // 2])(_png_bytes(_rgba(40, 40)))),
        "clear": lambda p: _save_rgba(p, np.zeros((5, 5, 4), np.uint8)),
    }
    expected = {
        "rgb": r"mode 'RGB' has no alpha channel",
        "gray": r"mode 'L' has no alpha channel",
        "corrupt": r"corrupt or unreadable image",
        "clear": r"fully transparent",
    }
    for name, make in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        _save_rgba(folder / "fine.png", _rgba())
        make(folder / f"{name}.png")
        with pytest.raises(AssetError, match=rf"{folder / name}\.png.*{expected[name]}"):
            load_objects({"source": "folder", "path": str(folder)})

    jpg = tmp_path / "jpg"
    jpg.mkdir()
    Image.fromarray(_rgba()[..., :3]).save(jpg / "photo.jpg")
    with pytest.raises(AssetError, match=r"photo\.jpg.*RGBA PNG"):
        load_objects({"source": "folder", "path": str(jpg)})
    mixed = tmp_path / "mixed"
    _save_rgba(mixed / "a.png", _rgba())
    _save_rgba(mixed / "sub" / "b.png", _rgba())
    with pytest.raises(AssetError, match=r"mixed.*mixes PNG files"):
        load_objects({"source": "folder", "path": str(mixed)})
    emptysub = tmp_path / "emptysub"
    (emptysub / "cls").mkdir(parents=True)
    with pytest.raises(AssetError, match=r"cls.*holds no \.png"):
        load_objects({"source": "folder", "path": str(emptysub)})


def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


# -- emoji --------------------------------------------------------------------------------------------

_FONT = Path(emoji_mod.DEFAULT_FONT)


@pytest.mark.skipif(
    not _FONT.is_file(),
    reason=f"{_FONT} absent: install the Debian package fonts-noto-color-emoji to run this test",
)
def test_emoji_default_61_render_as_straight_rgba() -> None:
    objs = load_objects({"source": "emoji"})
    with open(bundle_dir() / "lists" / "noto_emoji_default61.tsv", newline="") as fh:
        labels = [r["siscore_label"] for r in csv.DictReader(fh, delimiter="\t")]
    assert [o.name for o in objs] == labels and len(objs) == 61
    assert objs[0].source == "emoji:1F691"
    for o in objs:
        assert o.rgba.dtype == np.uint8 and max(o.rgba.shape[:2]) <= 136
        assert _touches_all_borders(o.rgba[..., 3]), o.name
        assert not o.rgba[o.rgba[..., 3] == 0, :3].any()
    # Straight (not premultiplied) alpha: some soft-edge pixels are brighter than their alpha.
    banana = objs[labels.index("banana")].rgba
    soft = (banana[..., 3] > 0) & (banana[..., 3] < 128)
    assert (banana[soft, :3].max(axis=1) > banana[soft, 3]).any()
    names = available_object_names({"source": "emoji"})
    assert len(names) == 521 and names[:61] == labels
    assert [o.name for o in load_objects({"source": "emoji", "names": ["monkey"]})] == ["monkey"]


def test_emoji_missing_font_names_the_package(tmp_path: Path) -> None:
    font = tmp_path / "NotoColorEmoji.ttf"
    with pytest.raises(AssetError, match=rf"{font}.*apt-get install fonts-noto-color-emoji"):
        load_objects({"source": "emoji", "font": str(font)})


# -- backgrounds ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_photos() -> list[BackgroundPhoto]:
    return load_background_photos({"source": "bundle"})


def test_bundle_photos_and_fixed_disjoint_split(bundle_photos: list[BackgroundPhoto]) -> None:
    assert len(bundle_photos) == 27
    assert all(
        p.rgb.dtype == np.uint8 and p.rgb.shape[2] == 3 and max(p.rgb.shape) <= 512
        for p in bundle_photos
    )
    parts = {s: [p.name for p in photo_split(bundle_photos, s, "disjoint")] for s in SPLITS}
    assert [len(parts[s]) for s in SPLITS] == [19, 4, 4]
    assert set(parts["train"]).isdisjoint(parts["val"]) and set(parts["val"]).isdisjoint(
        parts["test"]
    )
    assert set(parts["train"]).isdisjoint(parts["test"])
    assert sorted(n for names in parts.values() for n in names) == sorted(
        p.name for p in bundle_photos
    )
    # Documented in docs/ARCHITECTURE.md; the assignment is fixed, independent of any seed.
    assert parts["val"] == ["BytheWater", "DarkestHour", "Kleiber_by_Lukas_Baubkus", "RainDrops"]
    assert parts["test"] == [
        "Kite",
        "YellowFlower",
        "life_by_Aitzol_Berasategi",
        "seeding_by_Clements_Engelhardt",
    ]
    shuffled = list(reversed(bundle_photos))
    assert [p.name for p in photo_split(shuffled, "val", "disjoint")] == parts["val"]
    # the default (the paper's one set of backgrounds): every split crops from all 27 photos
    for split in SPLITS:
        assert [p.name for p in photo_split(bundle_photos, split)] == sorted(
            p.name for p in bundle_photos
        )


def test_background_bank_is_deterministic_and_seeded(bundle_photos: list[BackgroundPhoto]) -> None:
    kw = dict(size=32, count=867, split="train")
    a = background_bank(bundle_photos, seed=0, **kw)
    assert a.shape == (867, 32, 32, 3) and a.dtype == np.uint8
    b = background_bank(
        list(reversed(bundle_photos)), seed=0, **kw
    )  # order of the input is irrelevant
    assert hashlib.sha256(a.tobytes()).digest() == hashlib.sha256(b.tobytes()).digest()
    assert not np.array_equal(a, background_bank(bundle_photos, seed=1, **kw))
    # shared (default): one bank for every split, as the paper's single set of 867 backgrounds
    for split in ("val", "test"):
        np.testing.assert_array_equal(
            a[:50], background_bank(bundle_photos, seed=0, size=32, count=50, split=split)
        )
    # disjoint: a bank per split, from that split's photos
    disjoint = {
        s: background_bank(
            bundle_photos, seed=0, size=32, count=50, split=s, split_photos="disjoint"
        )
        for s in SPLITS
    }
    assert not np.array_equal(disjoint["val"], disjoint["test"])
    assert not np.array_equal(disjoint["train"], a[:50])
    np.testing.assert_array_equal(
        a[:100], background_bank(bundle_photos, seed=0, size=32, count=100, split="train")
    )
    assert len({hashlib.sha256(x.tobytes()).digest() for x in a}) == 867


def test_background_crops_follow_the_documented_distribution(
    bundle_photos: list[BackgroundPhoto],
) -> None:
    by_name = {p.name: p for p in bundle_photos}
    every = {p.name for p in bundle_photos}
    for split in SPLITS:
        shared = plan_background_crops(bundle_photos, count=867, seed=3, split=split)
        assert set(shared.photo) == every  # val/test crops come from all 27 photos
        plan = plan_background_crops(
            bundle_photos, count=867, seed=3, split=split, split_photos="disjoint"
        )
        allowed = {p.name for p in photo_split(bundle_photos, split, "disjoint")}
        assert set(plan.photo) == allowed
        h = np.array([by_name[n].rgb.shape[0] for n in plan.photo])
        w = np.array([by_name[n].rgb.shape[1] for n in plan.photo])
        frac = plan.side / np.minimum(h, w)
        assert frac.min() >= 0.25 - 1e-2 and frac.max() <= 1.0
        assert frac.min() < 0.3 and frac.max() > 0.95  # the whole 25-100 % range is used
        assert (plan.x >= 0).all() and (plan.y >= 0).all()
        assert (plan.x + plan.side <= w).all() and (plan.y + plan.side <= h).all()
        assert 0.4 < plan.flip.mean() < 0.6
    # One crop recomputed by hand: crop, antialiased bilinear resize, flip.
    plan = plan_background_crops(bundle_photos, count=20, seed=3, split="train")
    bank = background_bank(bundle_photos, size=24, count=20, seed=3, split="train")
    i = int(np.flatnonzero(plan.flip)[0])
    x, y, s = int(plan.x[i]), int(plan.y[i]), int(plan.side[i])
    img = Image.fromarray(by_name[plan.photo[i]].rgb).crop((x, y, x + s, y + s))
    ref = np.asarray(img.resize((24, 24), Image.Resampling.BILINEAR))[:, ::-1].astype(int)
    # The bank resizes from the whole photo (box=), so the filter may read a pixel or two beyond
    # the square: only the one-pixel border of the output can differ from crop-then-resize.
    assert np.abs(bank[i, 1:-1, 1:-1] - ref[1:-1, 1:-1]).max() <= 1
    assert np.abs(bank[i] - ref).mean() < 1.0


def test_top_left_crops_are_the_references_one_background_per_photo() -> None:
    """``crops: top-left`` (ref §2.3): bank image i = photo i by name, its largest top-left
    square, cropped and then resized with PIL bilinear, never flipped; no randomness."""
    photos = load_background_photos({"source": "si-score", "path": str(FIXTURE)})
    names = sorted(p.name for p in photos)
    assert background_photo_names({"source": "si-score", "path": str(FIXTURE)}) == names
    n = len(photos)
    plan = plan_background_crops(photos, count=n, seed=3, split="val", crops="top-left")
    assert plan.photo == names
    assert (plan.x == 0).all() and (plan.y == 0).all() and not plan.flip.any()
    by_name = {p.name: p for p in photos}
    assert plan.side.tolist() == [min(by_name[m].rgb.shape[:2]) for m in names]
    bank = background_bank(photos, size=32, count=n, seed=3, split="test", crops="top-left")
    for i, name in enumerate(names):
        s = int(plan.side[i])
        img = Image.fromarray(by_name[name].rgb).crop((0, 0, s, s))
        ref = np.asarray(img.resize((32, 32), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(bank[i], ref)  # exactly the reference's pixels
    # the seed and the split do not matter (one fixed set), and a smaller bank is a prefix
    np.testing.assert_array_equal(
        bank, background_bank(photos, size=32, count=n, seed=99, split="train", crops="top-left")
    )
    np.testing.assert_array_equal(
        bank[:2], background_bank(photos, size=32, count=2, seed=0, split="val", crops="top-left")
    )
    # random crops of the same photos are something else
    assert not np.array_equal(bank, background_bank(photos, size=32, count=n, seed=3, split="val"))


def test_top_left_crops_refuse_a_bank_larger_than_the_photos(
    bundle_photos: list[BackgroundPhoto],
) -> None:
    with pytest.raises(ValueError, match=r"count=28 exceeds the 27 photos: set assets"):
        background_bank(bundle_photos, size=8, count=28, seed=0, split="train", crops="top-left")
    with pytest.raises(ValueError, match=r"count=5 exceeds the 4 photos of split 'val'"):
        plan_background_crops(
            bundle_photos, count=5, seed=0, split="val", split_photos="disjoint", crops="top-left"
        )
    assert (
        len(background_bank(bundle_photos, size=8, count=27, seed=0, split="val", crops="top-left"))
        == 27
    )
    with pytest.raises(ValueError, match=r"crops must be one of \('random', 'top-left'\) here"):
        background_bank(bundle_photos, size=8, count=2, seed=0, split="val", crops="auto")


def test_crops_auto_is_top_left_for_si_score_only() -> None:
    assert resolve_crops("auto", "si-score") == "top-left"
    assert resolve_crops("auto", "bundle") == "random"
    assert resolve_crops("auto", "folder") == "random"
    assert resolve_crops("random", "si-score") == "random"
    assert resolve_crops("top-left", "bundle") == "top-left"
    with pytest.raises(ValueError, match="crops must be one of"):
        resolve_crops("centre", "bundle")
    assert split_photo_counts(867) == {"train": 867, "val": 867, "test": 867}
    assert split_photo_counts(867, "disjoint") == {"train": 607, "val": 130, "test": 130}
    assert split_photo_counts(27, "disjoint") == {"train": 19, "val": 4, "test": 4}


def test_background_bank_input_errors(bundle_photos: list[BackgroundPhoto]) -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        background_bank(bundle_photos, size=32, count=4, seed=0, split="dev")
    with pytest.raises(ValueError, match="split_photos"):
        background_bank(bundle_photos, size=32, count=4, seed=0, split="val", split_photos="mixed")
    with pytest.raises(ValueError, match=r"count must be >= 1"):
        background_bank(bundle_photos, size=32, count=0, seed=0, split="val")
    with pytest.raises(ValueError, match=r"at least 3 photos.*shared"):
        photo_split(bundle_photos[:2], "train", "disjoint")
    assert len(photo_split(bundle_photos[:2], "train")) == 2
    with pytest.raises(ValueError, match="photos is empty"):
        background_bank([], size=32, count=4, seed=0, split="val")


def test_background_folder_source_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("c", "a", "b"):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{name}.jpg"
        )
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8), "L").save(tmp_path / "d.png")
    photos = load_background_photos(
        {"source": "folder", "path": str(tmp_path), "licence": "CC0-1.0"}
    )
    assert [p.name for p in photos] == ["a", "b", "c", "d"]
    assert {p.licence for p in photos} == {"CC0-1.0"} and photos[3].rgb.shape == (20, 20, 3)
    bank = background_bank(photos, size=16, count=10, seed=0, split="test", split_photos="disjoint")
    assert bank.shape == (10, 16, 16, 3)
    # bank_size / split_photos belong to the same config section and are accepted here.
    load_background_photos(
        {"source": "folder", "path": str(tmp_path), "bank_size": 867, "split_photos": "shared"}
    )

    (tmp_path / "e.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(AssetError, match=r"e\.jpg.*corrupt"):
        load_background_photos({"source": "folder", "path": str(tmp_path)})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AssetError, match=rf"{empty}.*empty background folder"):
        load_background_photos({"source": "folder", "path": str(empty)})
    with pytest.raises(AssetError, match=r"nothere.*not found"):
        load_background_photos({"source": "folder", "path": str(tmp_path / "nothere")})
    with pytest.raises(AssetError, match=r"si-score.*backgrounds.*s3\.us-east-1"):
        load_background_photos({"source": "si-score", "path": str(tmp_path / "si-score")})
    clear = tmp_path / "clear"
    clear.mkdir()
    _save_rgba(clear / "glass.png", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(AssetError, match=r"glass\.png.*transparent"):
        load_background_photos({"source": "folder", "path": str(clear)})
    with pytest.raises(ConfigError, match="count"):
        load_background_photos({"source": "bundle", "count": 3})


# -- building the bundle ------------------------------------------------------------------------------


def _fake_trees(tmp_path: Path) -> tuple[dict[str, bundle_mod.PackageTree], Path, Path]:
    """Tiny stand-ins for the Debian packages and selection lists (same structure, 5 stamps)."""
    stamps = {
        "food/fruit/banana.png": ("banana", _rgba(300, 150, 1)),  # downscaled to 128 px
        "food/fruit/Strawberry2.png": ("strawberry", _rgba(20, 10, 2)),
        "food/fruit/strawberry.png": ("strawberry", _rgba(12, 14, 3)),
        "plants/strawberry.png": ("strawberry", _rgba(9, 9, 4)),
        "vehicles/747.png": ("", _rgba(8, 30, 5)),
    }
    tux = tmp_path / "tux"
    for rel, (_, arr) in stamps.items():
        padded = np.zeros((arr.shape[0] + 6, arr.shape[1] + 4, 4), np.uint8)
        padded[3:-3, 2:-2] = arr
        _save_rgba(tux / bundle_mod.STAMPS_DIR / rel, padded)
    pal = Image.fromarray(np.pad(np.ones((5, 5), np.uint8), 2), "P")
    pal.putpalette([0, 0, 0, 255, 0, 0])
    pal.save(tux / bundle_mod.STAMPS_DIR / "vehicles/747.png", transparency=0)
    doc = "Files: *\nCopyright: 2002 Someone\nLicense: GPL-2\n"
    (tux / "usr/share/doc/tuxpaint-stamps-default").mkdir(parents=True)
    (tux / "usr/share/doc/tuxpaint-stamps-default/copyright").write_text(doc)
    mate = tmp_path / "mate"
    (mate / "usr/share/backgrounds/mate/nature").mkdir(parents=True)
    for name, size in (("Aqua", (700, 400)), ("Dune", (300, 200))):
        arr = np.random.default_rng(len(name)).integers(
            0, 256, (size[1], size[0], 3), dtype=np.uint8
        )
        Image.fromarray(arr).save(
            mate / f"usr/share/backgrounds/mate/nature/{name}.jpg", quality=95
        )
    (mate / "usr/share/doc/mate-backgrounds").mkdir(parents=True)
    (mate / "usr/share/doc/mate-backgrounds/copyright").write_text(
        "Files: *\nCopyright: nobody\nLicense: GPL-2+\n\n"
        "Files: nature/Aqua.jpg\n       nature/Other.jpg\nCopyright: 2008, Charles Barbin\nLicense: GPL-2+\n"
    )
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "tuxpaint_photo_objects.tsv").write_text(
        "path\tcategory\ttop_folder\twidth\theight\tin_default_61\n"
        + "".join(f"{p}\t{c}\tx\t0\t0\t0\n" for p, (c, _) in stamps.items())
    )
    (lists / "tuxpaint_default61.tsv").write_text(
        "index\tpath_in_package_stamps_folder\n0\tfood/fruit/Strawberry2.png\n1\tvehicles/747.png\n"
    )
    (lists / "nature_backgrounds.tsv").write_text(
        "debian_package\tpath_in_package\tlicence\n"
        "mate-backgrounds\tusr/share/backgrounds/mate/nature/Aqua.jpg\tGPL-2+\n"
        "mate-backgrounds\tusr/share/backgrounds/mate/nature/Dune.jpg\tGPL-2+\n"
    )
    common = tmp_path / "common-licenses"
    common.mkdir()
    for lic in bundle_mod.COMMON_LICENCES:
        (common / lic).write_text(f"full text of {lic}\n")
    trees = {
        "tuxpaint-stamps-default": bundle_mod.PackageTree(tux, "1.0-1"),
        "mate-backgrounds": bundle_mod.PackageTree(mate, "2.0-1"),
    }
    return trees, lists, common


def test_build_bundle_processes_and_is_reproducible(tmp_path: Path) -> None:
    trees, lists, common = _fake_trees(tmp_path)
    dest = tmp_path / "bundle"
    dest.mkdir()
    (dest / "notes.yaml").write_text("someone else's file\n")
    bundle_mod.build_bundle(dest, trees, lists, common_licenses=common)
    entries = read_bundle_manifest(dest)
    objs = [e for e in entries if e.kind == "object"]
    assert [e.name for e in objs] == [
        "strawberry",
        "747",
        "banana",
        "fruit-strawberry",
        "plants-strawberry",
    ]
    assert [e.default_rank for e in objs] == [0, 1, None, None, None]
    assert (objs[2].height, objs[2].width) == (128, 64)  # 300×150 stamp -> 128 px, tight
    assert (objs[1].height, objs[1].width) == (
        5,
        5,
    )  # palette + tRNS stamp, cropped to the alpha box
    photos = {e.name: e for e in entries if e.kind == "background"}
    assert (photos["Aqua"].width, photos["Aqua"].height) == (512, 293)
    assert photos["Aqua"].attribution == "2008, Charles Barbin"
    assert photos["Dune"].attribution == "nobody"
    verify_bundle(dest)
    assert (
        dest / "notes.yaml"
    ).read_text() == "someone else's file\n"  # only bundle entries replaced
    assert (dest / "licenses/common/GPL-2").is_file() and (
        dest / "lists/nature_backgrounds.tsv"
    ).is_file()
    assert not [p for p in dest.iterdir() if p.name.startswith(".tmp")]
    loaded = load_objects({"source": "bundle", "path": str(dest)})
    assert [o.name for o in loaded] == ["strawberry", "747"]
    first = _tree_bytes(dest)
    bundle_mod.build_bundle(dest, trees, lists, common_licenses=common)
    assert _tree_bytes(dest) == first


@pytest.mark.skipif(
    not os.environ.get("INVTRANSFER_DEB_CACHE"),
    reason="set INVTRANSFER_DEB_CACHE to a folder with the five pinned .deb files to rebuild the real bundle",
)
def test_rebuild_from_debian_packages_reproduces_the_committed_bundle(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(os.environ["INVTRANSFER_DEB_CACHE"], work / "debs")
    bundle_mod.rebuild_bundle(tmp_path / "bundle", work, lists_dir=bundle_dir() / "lists")
    committed = bundle_dir()
    for name in ("manifest.tsv", "build_info.json", "README.md"):
        assert (tmp_path / "bundle" / name).read_bytes() == (committed / name).read_bytes(), name


def test_check_assets_records_the_photos_and_how_the_bank_is_cut(tmp_path: Path) -> None:
    import json

    from invtransfer.steps import check_assets

    out = tmp_path / "assets.json"
    si = {"source": "si-score", "path": str(FIXTURE)}
    check_assets({"source": "bundle", "count": 2}, si, out)
    summary = json.loads(out.read_text())
    assert summary["backgrounds"]["crops"] == "top-left"  # auto: the reference's, for SI-Score
    assert summary["backgrounds"]["photos"] == background_photo_names(si)
    check_assets({"source": "bundle", "count": 2}, {"source": "bundle", "crops": "auto"}, out)
    summary = json.loads(out.read_text())
    assert (
        summary["backgrounds"]["crops"] == "random" and len(summary["backgrounds"]["photos"]) == 27
    )
    assert summary["objects"]["count"] == 2
