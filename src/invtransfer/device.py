"""Devices: selecting one, placing models and running them there (bf16 autocast, channels-last,
CUDA speed settings), sharing the cards of a multi-GPU machine between workflow jobs, and the
logging set-up shared by every stage."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import platform
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "FAKE_GPUS_ENV",
    "SLOTS_PER_CARD_ENV",
    "SLOT_DIR_ENV",
    "GpuLease",
    "GpuSlot",
    "acquire_gpu",
    "assignment_fields",
    "autocast",
    "configure_cuda",
    "cpu_name",
    "default_slot_dir",
    "describe_device",
    "eval_chunk",
    "gpu_assignment",
    "gpu_count",
    "job_device",
    "place_model",
    "resolve_bf16",
    "resolve_device",
    "setup_logging",
    "slots_per_card_setting",
    "tune_cpu_allocator",
]

log = logging.getLogger("invtransfer.device")


def resolve_device(spec: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given.

    Asking for CUDA on a machine without it is an error, never a silent fallback.
    """
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string, got {type(spec).__name__}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(
            f"device: unknown device {spec!r} (use auto, cpu, cuda or cuda:N)"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {spec!r} requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: {spec!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return dev


def cpu_name() -> str:
    """The CPU model (``model name`` in /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def resolve_bf16(bf16: bool | str, device: torch.device) -> bool:
    """``"auto"``: bf16 autocast on CUDA, fp32 on the CPU (exact and deterministic)."""
    if bf16 == "auto":
        return device.type == "cuda"
    if isinstance(bf16, bool):
        return bf16
    raise ValueError(f"bf16 must be 'auto', true or false, got {bf16!r}")


def autocast(device: torch.device, bf16: bool) -> torch.autocast:
    """bf16 autocast on ``device`` when ``bf16``, else a no-op context."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


# Images per forward pass in evaluation (features, sens, accuracy) on the CPU. Bigger passes
# allocate activations of tens of MB, which glibc serves as fresh mmap'd pages, page-faulted on
# every layer: at 1024 images per pass the forward ran at half the speed (bench/RESULTS.md,
# "Training": feature extraction 1024 -> 128 images per pass, 1 thread, bf16: cnn4 7.2k -> 17.2k
# img/s, vgg11_w 6.4k -> 11.4k). Per-sample results do not depend on it (a test pins this).
CPU_EVAL_CHUNK = 128


def eval_chunk(device: torch.device, batch_size: int) -> int:
    """Images per evaluation forward pass on ``device`` for a requested ``batch_size``: at most
    :data:`CPU_EVAL_CHUNK` on the CPU, ``batch_size`` elsewhere (a GPU wants big batches)."""
    return min(batch_size, CPU_EVAL_CHUNK) if device.type == "cpu" else batch_size


# glibc's malloc serves blocks above its mmap threshold (128 KiB at first, raised as they are
# freed) as fresh pages from the kernel, and gives freed heap memory back above its trim
# threshold: on the CPU every layer's activations, a few MB each, were page-faulted anew each
# step. Thresholds of 32 MiB (glibc's own ceiling for the dynamic one) and 64 MiB keep them in
# the heap: cnn4 training steps 8-10 % faster (bench/RESULTS.md, "Training").
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MALLOC_MMAP_THRESHOLD = 32 << 20
MALLOC_TRIM_THRESHOLD = 64 << 20
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def tune_cpu_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (see above). Returns whether it
    did: not on other C libraries or systems, and not when the user set the ``MALLOC_*_``
    variables (theirs win). Safe to call more than once."""
    if sys.platform != "linux" or any(name in os.environ for name in _MALLOC_ENV):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):  # "glibc 2.36"; musl has none
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, ValueError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the mmap threshold first: setting only the trim one freezes the mmap one at 128 KiB
    done = mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) == 1
    return done and mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD) == 1


def configure_cuda() -> None:
    """TF32 matmuls/convolutions and cuDNN autotuning: the speed settings for CUDA runs."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def place_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device``; convolutional models go channels-last, which is ~2x faster
    for these networks on CUDA and on the CPU (oneDNN) alike."""
    model = model.to(device)
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def setup_logging(level: int = logging.INFO) -> None:
    """Log ``invtransfer.*`` messages to stderr (a rule's log file under Snakemake)."""
    root = logging.getLogger("invtransfer")
    if not any(getattr(h, "_invtransfer", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._invtransfer = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)


# -- sharing the cards of a machine between workflow jobs ----------------------------------------
SLOT_DIR_ENV = "INVTRANSFER_GPU_SLOT_DIR"  # where the per-card lock files live
SLOTS_PER_CARD_ENV = "INVTRANSFER_GPU_SLOTS_PER_CARD"  # optional cap on jobs per card
FAKE_GPUS_ENV = "INVTRANSFER_FAKE_GPUS"  # tests: pretend N cards; jobs hold slots, run on the CPU
_ASSIGN_LOCK = ".assign.lock"


@dataclass(frozen=True)
class GpuSlot:
    """The card a job holds: what its metrics record (``metrics.json`` key ``gpu_assignment``)."""

    card: int  # CUDA device index in this process (cuda:<card>)
    physical: str  # the card's entry in CUDA_VISIBLE_DEVICES, else its index
    slot: int  # slot number on that card
    cards: int  # cards visible to the job
    jobs_on_card: int  # jobs holding this card when it was assigned, this one included
    slots_per_card: int | None  # the cap in force (None: no cap, jobs are spread evenly)
    fake: bool  # INVTRANSFER_FAKE_GPUS: a pretend card, the job ran on the CPU


class GpuLease:
    """A held slot: an exclusive ``flock`` on ``<slot_dir>/card-<physical>.slot<j>.lock``.

    The lock lives as long as the open file: :meth:`release` (or leaving the ``with`` block)
    frees it, and so does the end of the process however it ends (crash, ``kill -9``): the
    kernel drops the locks of a dead process, so a crashed job never keeps its card.
    """

    def __init__(self, slot: GpuSlot, path: Path, fd: int):
        self.slot, self.path, self._fd = slot, path, fd

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> GpuLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"GpuLease(card {self.slot.card}, slot {self.slot.slot}, {state})"


def gpu_count() -> int:
    """CUDA cards this process can use (``INVTRANSFER_FAKE_GPUS`` overrides: tests on a CPU).

    ``torch.cuda.device_count`` asks NVML where it can and does not initialise CUDA.
    """
    fake = os.environ.get(FAKE_GPUS_ENV)
    if fake is not None:
        if not fake.strip().isdigit():
            raise ValueError(f"{FAKE_GPUS_ENV}={fake!r}: expected a card count such as 4")
        return int(fake)
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_slot_dir() -> Path:
    """``$INVTRANSFER_GPU_SLOT_DIR``, else ``<tmp>/invtransfer-gpu-slots-<uid>/<host>``: one
    folder per user and machine, so concurrent runs from different folders share out the same
    cards; the host name keeps machines apart where the temp folder is shared."""
    env = os.environ.get(SLOT_DIR_ENV)
    if env:
        return Path(env)
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"invtransfer-gpu-slots-{uid}" / socket.gethostname()


def slots_per_card_setting() -> int | None:
    """The optional cap ``$INVTRANSFER_GPU_SLOTS_PER_CARD`` (a positive int), else None."""
    value = os.environ.get(SLOTS_PER_CARD_ENV)
    if value is None or value == "":
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{SLOTS_PER_CARD_ENV}={value!r}: expected a positive integer or unset")
    return int(value)


def _physical_ids(cards: int) -> list[str]:
    """Each visible card's name outside this process: its CUDA_VISIBLE_DEVICES entry (an index,
    a UUID or a MIG id) when that is set, else its index. Lock files are keyed by it, so jobs
    that see the cards through different CUDA_VISIBLE_DEVICES still coordinate."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [e.strip() for e in visible.split(",") if e.strip()] if visible else []
    ids = [entries[k] if k < len(entries) else str(k) for k in range(cards)]
    return [re.sub(r"[^A-Za-z0-9_.-]", "_", i) for i in ids]


def _is_held(path: Path) -> bool:
    """Whether another open file (in any process, this one included) holds ``path``'s lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)  # closing drops a lock taken above
    return False


def _slot_number(path: Path) -> int:
    return int(path.name.rsplit(".slot", 1)[1].split(".")[0])


def _try_assign(
    slot_dir: Path, cards: int, slots_per_card: int | None, fake: bool
) -> GpuLease | None:
    """Under the folder's assignment lock: the least-busy card with room (ties: lowest index)
    and its lowest free slot, locked; None when every card is full."""
    ids = _physical_ids(cards)
    held: list[set[int]] = []
    for pid in ids:
        files = slot_dir.glob(f"card-{pid}.slot*.lock")
        held.append({_slot_number(f) for f in files if _is_held(f)})
    room = [k for k in range(cards) if slots_per_card is None or len(held[k]) < slots_per_card]
    if not room:
        return None
    card = min(room, key=lambda k: (len(held[k]), k))
    slot = next(j for j in range(len(held[card]) + 1) if j not in held[card])
    path = slot_dir / f"card-{ids[card]}.slot{slot}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    info = (
        f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, info.encode(), 0)
    slot_info = GpuSlot(
        card=card,
        physical=ids[card],
        slot=slot,
        cards=cards,
        jobs_on_card=len(held[card]) + 1,
        slots_per_card=slots_per_card,
        fake=fake,
    )
    return GpuLease(slot_info, path, fd)


def acquire_gpu(
    slot_dir: str | os.PathLike[str],
    cards: int,
    *,
    slots_per_card: int | None = None,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
    fake: bool = False,
) -> GpuLease:
    """Hold one of ``cards`` cards for as long as the returned lease (see :class:`GpuLease`).

    Jobs are spread evenly: the card with the fewest current holders is chosen (ties: the lowest
    index), so N jobs on N cards get one card each and more jobs share the cards in turn. With
    ``slots_per_card`` a card takes at most that many jobs; when every card is full the call
    waits (polling every ``poll_s``) until a holder ends, or raises ``TimeoutError`` after
    ``timeout_s``. The choice is made under an exclusive lock on ``<slot_dir>/.assign.lock``,
    so jobs starting at the same moment never pick the same slot.
    """
    if isinstance(cards, bool) or not isinstance(cards, int) or cards < 1:
        raise ValueError(f"cards must be a positive int, got {cards!r}")
    if slots_per_card is not None and (
        isinstance(slots_per_card, bool)
        or not isinstance(slots_per_card, int)
        or slots_per_card < 1
    ):
        raise ValueError(f"slots_per_card must be a positive int or None, got {slots_per_card!r}")
    folder = Path(slot_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"GPU slot folder {folder} cannot be created ({exc}); set {SLOT_DIR_ENV} to a "
            "writable local folder"
        ) from exc
    start, waited = time.monotonic(), False
    while True:
        mutex = os.open(folder / _ASSIGN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(mutex, fcntl.LOCK_EX)
            lease = _try_assign(folder, cards, slots_per_card, fake)
        finally:
            os.close(mutex)
        if lease is not None:
            return lease
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise TimeoutError(
                f"no free GPU slot in {folder} after {timeout_s:.0f} s: all {cards} cards hold "
                f"{slots_per_card} job(s) each ({SLOTS_PER_CARD_ENV})"
            )
        if not waited:
            log.info(
                "waiting for a GPU: all %d cards hold %s job(s) each (%s)",
                cards,
                slots_per_card,
                SLOTS_PER_CARD_ENV,
            )
            waited = True
        time.sleep(poll_s)


_ACTIVE: list[GpuLease] = []  # leases taken by job_device in this process, innermost last


@contextlib.contextmanager
def job_device(
    spec: str = "auto",
    *,
    cards: int | None = None,
    slot_dir: str | os.PathLike[str] | None = None,
    slots_per_card: int | None = None,
) -> Iterator[str]:
    """The device of one workflow job, held for the ``with`` block.

    With ``spec`` ``"auto"`` or ``"cuda"`` on a machine with two or more cards, the job takes a
    card (:func:`acquire_gpu`, in :func:`default_slot_dir`, capped by
    ``$INVTRANSFER_GPU_SLOTS_PER_CARD`` unless ``slots_per_card`` is given), makes it the
    current CUDA device and yields ``"cuda:<card>"``; :func:`gpu_assignment` describes it until
    the block ends, when the card is released (a crash releases it too). With one card or none,
    or another ``spec`` (``"cpu"``, ``"cuda:N"``: the user's choice), ``spec`` is yielded
    unchanged and nothing is held. ``cards`` defaults to :func:`gpu_count`; with
    ``$INVTRANSFER_FAKE_GPUS`` the held card is a pretend one and the job runs on the CPU.
    """
    fake = os.environ.get(FAKE_GPUS_ENV) is not None
    n = gpu_count() if cards is None else cards
    if spec not in ("auto", "cuda") or n <= 1:
        yield spec
        return
    cap = slots_per_card_setting() if slots_per_card is None else slots_per_card
    lease = acquire_gpu(
        default_slot_dir() if slot_dir is None else slot_dir, n, slots_per_card=cap, fake=fake
    )
    try:
        s = lease.slot
        if fake:
            device = "cpu"
        else:
            torch.cuda.set_device(s.card)
            device = f"cuda:{s.card}"
        log.info(
            "GPU assignment: card %d (%s) of %d, slot %d, %d job(s) on it%s",
            s.card,
            s.physical,
            s.cards,
            s.slot,
            s.jobs_on_card,
            " (pretend card: running on the CPU)" if fake else "",
        )
        _ACTIVE.append(lease)
        yield device
    finally:
        if lease in _ACTIVE:
            _ACTIVE.remove(lease)
        lease.release()


def gpu_assignment() -> dict[str, Any] | None:
    """The card this process holds for the running job (:func:`job_device`), as a JSON-able
    dict for its result files; None when it holds none (one card or none, CPU, ``cuda:N``)."""
    return asdict(_ACTIVE[-1].slot) if _ACTIVE else None


def assignment_fields() -> dict[str, Any]:
    """``{"gpu_assignment": ...}`` while a job holds a card, else ``{}``: what result files add
    next to their ``device`` (so single-GPU and CPU outputs stay as they were)."""
    record = gpu_assignment()
    return {} if record is None else {"gpu_assignment": record}
