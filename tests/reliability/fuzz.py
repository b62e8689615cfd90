"""A seeded fuzzer for the files topoae reads: byte damage, JSON re-typing, planted code.

Every mutation is a pure function of the input and a ``numpy.random.Generator``, so a seed
reproduces a failure exactly. The planted payloads run ``touch MARKER`` when unpickled
without restriction; a reader that never runs code leaves no marker behind.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import pickle
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

# ---------------------------------------------------------------------- bytes


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    """The first 0 .. len-1 bytes."""
    return data[: int(rng.integers(0, max(len(data), 1)))]


def bit_flip(data: bytes, rng: np.random.Generator, n_bits: int = 1) -> bytes:
    """``n_bits`` random bits inverted."""
    out = bytearray(data)
    for _ in range(n_bits):
        i = int(rng.integers(len(out)))
        out[i] ^= 1 << int(rng.integers(8))
    return bytes(out)


def zero_run(data: bytes, rng: np.random.Generator, max_len: int = 64) -> bytes:
    """A random run of bytes set to zero (a lost disk block, in miniature)."""
    out = bytearray(data)
    start = int(rng.integers(len(out)))
    stop = min(len(out), start + int(rng.integers(1, max_len + 1)))
    out[start:stop] = bytes(stop - start)
    return bytes(out)


def append_junk(data: bytes, rng: np.random.Generator, max_len: int = 64) -> bytes:
    """Random bytes appended."""
    return data + rng.bytes(int(rng.integers(1, max_len + 1)))


BYTE_MUTATIONS = {
    "truncate": truncate,
    "bit-flip": bit_flip,
    "zero-run": zero_run,
    "append": append_junk,
}


def byte_mutations(data: bytes, seed: int, n: int) -> Iterator[tuple[str, bytes]]:
    """``n`` mutated copies of ``data`` (each kind in turn), all different from ``data``."""
    rng = np.random.default_rng(seed)
    kinds = list(BYTE_MUTATIONS)
    made = 0
    while made < n:
        kind = kinds[made % len(kinds)]
        mutated = BYTE_MUTATIONS[kind](data, rng)
        if mutated != data:
            made += 1
            yield kind, mutated


def every_bit_flip(data: bytes) -> Iterator[bytes]:
    """One copy per byte with one bit of that byte flipped (exhaustive over positions)."""
    for i in range(len(data)):
        out = bytearray(data)
        out[i] ^= 1 << (i * 5 % 8)
        yield bytes(out)


def swap_files(a: str | os.PathLike, b: str | os.PathLike) -> None:
    """Exchange the contents of two files (a careless copy, a wrong rename)."""
    a, b = Path(a), Path(b)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


def folder_mutations(
    folder: str | os.PathLike, work: str | os.PathLike, seed: int, per_file: int
) -> Iterator[tuple[str, str, Path]]:
    """Damaged copies of a whole run folder, one damaged file (or one swap) per copy.

    For every file (dot files excepted) ``per_file`` byte mutations, JSON files also
    ``per_file`` re-typings, and one swap of each pair of different files of the same suffix. Each
    copy is made fresh in ``work/copy`` (the previous one is replaced), so a reader that
    writes cannot spoil the next case.

    Yields
    ------
    (file, mutation, copy) : (str, str, Path)
        The damaged file's name, what was done to it, and the damaged folder.
    """
    import shutil

    folder, copy_dir = Path(folder), Path(work) / "copy"
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )

    def fresh() -> Path:
        shutil.rmtree(copy_dir, ignore_errors=True)
        shutil.copytree(folder, copy_dir)
        return copy_dir

    for index, name in enumerate(files):
        data = (folder / name).read_bytes()
        mutants = [(kind, m) for kind, m in byte_mutations(data, seed + index, per_file)]
        if name.endswith(".json"):
            try:
                document = json.loads(data)
            except ValueError:
                document = None
            if document is not None:
                mutants += [("re-type", m) for m in json_mutations(document, seed, per_file)]
        for kind, mutated in mutants:
            target = fresh()
            (target / name).write_bytes(mutated)
            yield name, kind, target
    for i, a in enumerate(files):
        for b in files[i + 1 :]:
            same = (folder / a).read_bytes() == (folder / b).read_bytes()
            if Path(a).suffix == Path(b).suffix and not same:  # swapping twins changes nothing
                target = fresh()
                swap_files(target / a, target / b)
                yield f"{a} <-> {b}", "swap", target


# ---------------------------------------------------------------------- kills


def _die_at_write(n: int, when: str, target, args) -> None:
    """Run ``target(*args)``, SIGKILLing this process at its ``n``-th atomic write."""
    import signal

    from topoae._io import TEMPORARY_NAME

    real, count = os.replace, [0]

    def replace(src, dst, *rest, **kwargs):
        atomic = TEMPORARY_NAME.match(Path(src).name) is not None
        if atomic and count[0] == n and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)  # the temporary is complete, not yet moved
        real(src, dst, *rest, **kwargs)
        if atomic and count[0] == n and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += atomic

    os.replace = replace
    target(*args)


def run_killed_at_write(target, args: tuple, n: int, when: str = "before") -> bool:
    """Run ``target(*args)`` in a fresh process SIGKILLed at its ``n``-th atomic write.

    ``when`` is ``"before"`` (the temporary written, not yet moved into place) or
    ``"after"`` (the file in place, nothing after it). Children fork from a forkserver that
    has imported topoae once, so each costs milliseconds, not an interpreter start.

    Returns
    -------
    bool
        True if the process was killed; False if it made fewer than ``n + 1`` writes and
        finished (then every write position has been tried).
    """
    import multiprocessing
    import signal

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["topoae", "fuzz"])
    process = context.Process(target=_die_at_write, args=(n, when, target, args))
    process.start()
    process.join(600)
    if process.exitcode not in (0, -signal.SIGKILL):
        raise RuntimeError(f"the child failed with exit code {process.exitcode}")
    return process.exitcode == -signal.SIGKILL


# ---------------------------------------------------------------------- JSON


def _nodes(obj: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _nodes(value, (*path, i))


def _other_type(value: Any, rng: np.random.Generator) -> Any:
    choices = [None, True, 7, 2.5, "text", [1, "a"], {"k": 1}, float("nan"), -1e308]
    choices = [c for c in choices if type(c) is not type(value)]
    return copy.deepcopy(choices[int(rng.integers(len(choices)))])


def retype_json(obj: Any, rng: np.random.Generator) -> Any:
    """A copy of a JSON document with one node replaced by another type, or one key deleted."""
    obj = copy.deepcopy(obj)
    paths = list(_nodes(obj))
    path = paths[int(rng.integers(len(paths)))]
    if not path:
        return _other_type(obj, rng)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = _other_type(parent[path[-1]], rng)
    return obj


def json_mutations(obj: Any, seed: int, n: int) -> Iterator[bytes]:
    """``n`` re-typed copies of ``obj`` as JSON bytes."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield json.dumps(retype_json(obj, rng)).encode("utf-8")


# ---------------------------------------------------------------------- planted code


class Planted:
    """Unpickled without restriction, runs ``touch marker``."""

    def __init__(self, marker: str | os.PathLike):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def checked_container(payload: bytes) -> bytes:
    """``payload`` behind a valid topoae checksum header (an attacker can compute it)."""
    digest = hashlib.sha256(payload).hexdigest()
    return f"topoae-checked-torch 1\nsha256 {digest} {len(payload)}\n".encode() + payload


def planted_files(marker: str | os.PathLike) -> dict[str, bytes]:
    """Files that run code when read carelessly, by name of the trick."""
    import torch

    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": Planted(marker)}, buffer)
    in_torch = buffer.getvalue()
    raw = pickle.dumps({"state_dict": {}, "extra": Planted(marker)})
    npz = io.BytesIO()
    np.savez(npz, latent=np.array([Planted(marker)], dtype=object))
    return {
        "torch.save with a planted object": in_torch,
        "the same behind a valid checksum": checked_container(in_torch),
        "a bare pickle": raw,
        "a bare pickle behind a valid checksum": checked_container(raw),
        "an npz with a pickled object array": npz.getvalue(),
    }
