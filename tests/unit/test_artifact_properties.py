"""Property-based tests for the streaming artifact validator (modelrelay.artifact)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelrelay.artifact import REASONS, ArtifactLimits, ArtifactRejected, validate_artifact
from modelrelay_sandbox.artifact_factory import TEST_LIMITS, good_artifact, gzip_bytes, tar_bytes, tar_entry

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = ArtifactLimits(max_members=64)
FORMATS = [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]

Entry = tuple[tarfile.TarInfo, bytes]


# --------------------------------------------------------------------------- strategies

_ALPHABETS = st.sampled_from(["abcdefghijklmnopqrstuvwxyz0123456789_-.", "abc.é数据_-"])


@st.composite
def _component(draw: st.DrawFn, alphabet: str) -> str:
    return draw(st.text(alphabet=alphabet, min_size=1, max_size=10).filter(lambda part: part not in {".", ".."}))


@st.composite
def _path(draw: st.DrawFn, alphabet: str) -> str:
    parts = draw(st.lists(_component(alphabet), min_size=1, max_size=3))
    return "/".join(parts)


@dataclass(frozen=True)
class SafeArchive:
    entries: list[Entry]
    tar_format: int
    names: list[str]
    gzip_members: int
    level: int

    def tar(self, extra: list[Entry] | None = None) -> bytes:
        return tar_bytes(extra if extra is not None else self.entries, tar_format=self.tar_format)

    def gzip(self, raw: bytes) -> bytes:
        step = -(-len(raw) // self.gzip_members)
        return b"".join(gzip_bytes(raw[i : i + step], self.level) for i in range(0, len(raw), step))


@st.composite
def safe_archives(draw: st.DrawFn) -> SafeArchive:
    alphabet = draw(_ALPHABETS)
    names = draw(st.lists(_path(alphabet), min_size=1, max_size=12, unique=True))
    dot_prefix = draw(st.booleans())
    entries: list[Entry] = []
    for name in names:
        member_name = f"./{name}" if dot_prefix else name
        if draw(st.integers(0, 4)) == 0:
            entries.append(tar_entry(member_name, kind=tarfile.DIRTYPE))
        else:
            entries.append(tar_entry(member_name, draw(st.binary(max_size=3000))))
    return SafeArchive(
        entries=entries,
        tar_format=draw(st.sampled_from(FORMATS)),
        names=names,
        gzip_members=draw(st.integers(1, 3)),
        level=draw(st.integers(1, 9)),
    )


# name of the hostile member (upper case: never collides with the safe alphabets) -> (entry builder, reason)
HOSTILE: dict[str, tuple[Callable[[str], Entry], str]] = {
    "symlink": (lambda n: tar_entry(n, kind=tarfile.SYMTYPE, linkname="../../etc/passwd"), "symlink_member"),
    "hardlink": (lambda n: tar_entry(n, kind=tarfile.LNKTYPE, linkname="model.joblib"), "hardlink_member"),
    "char_device": (lambda n: tar_entry(n, kind=tarfile.CHRTYPE), "device_member"),
    "block_device": (lambda n: tar_entry(n, kind=tarfile.BLKTYPE), "device_member"),
    "fifo": (lambda n: tar_entry(n, kind=tarfile.FIFOTYPE), "fifo_member"),
    "contiguous": (lambda n: tar_entry(n, b"c", kind=tarfile.CONTTYPE), "unsupported_member"),
    "absolute": (lambda n: tar_entry(f"/{n}", b"x"), "absolute_path"),
    "windows_drive": (lambda n: tar_entry(f"C:\\{n}", b"x"), "absolute_path"),
    "traversal": (lambda n: tar_entry(f"../{n}", b"x"), "path_traversal"),
    "nested_traversal": (lambda n: tar_entry(f"{n}/../../{n}", b"x"), "path_traversal"),
    "backslash_traversal": (lambda n: tar_entry(f"{n}\\..\\..\\x", b"x"), "path_traversal"),
    "not_utf8": (lambda n: tar_entry(f"{n}-\udcff", b"x"), "name_not_utf8"),
    "long_name": (lambda n: tar_entry(f"{n}/" + "L" * 1100, b"x"), "name_too_long"),
}


# --------------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(archive=safe_archives(), chunk_size=st.sampled_from([64, 511, 512, 4096, 1024 * 1024]))
def test_safe_archives_always_pass_with_exact_report(archive: SafeArchive, chunk_size: int) -> None:
    data = archive.gzip(archive.tar())
    report = validate_artifact(io.BytesIO(data), LIMITS, expected_size=len(data), chunk_size=chunk_size)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data)
    assert report.member_count == len(archive.entries)


@PROPERTY_SETTINGS
@given(archive=safe_archives(), hostile=st.sampled_from(sorted(HOSTILE)), data=st.data())
def test_an_injected_hostile_member_is_always_rejected_with_its_reason(
    archive: SafeArchive, hostile: str, data: st.DataObject
) -> None:
    build, reason = HOSTILE[hostile]
    position = data.draw(st.integers(0, len(archive.entries)), label="position")
    entries = list(archive.entries)
    entries.insert(position, build("HOSTILE"))
    tar_format = tarfile.PAX_FORMAT if hostile == "long_name" else archive.tar_format  # ustar can't hold it
    blob = archive.gzip(tar_bytes(entries, tar_format=tar_format))
    try:
        validate_artifact(io.BytesIO(blob), LIMITS)
    except ArtifactRejected as exc:
        assert exc.reason == reason
        assert exc.member is not None
        assert "HOSTILE" in exc.member
    else:
        raise AssertionError(f"hostile member {hostile!r} at position {position} was accepted")


@PROPERTY_SETTINGS
@given(archive=safe_archives(), data=st.data())
def test_a_duplicated_member_is_always_rejected(archive: SafeArchive, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(archive.entries) - 1), label="original")
    position = data.draw(st.integers(index + 1, len(archive.entries)), label="position")
    variant = data.draw(st.sampled_from(["{}", "./{}", "{}/"]), label="variant")
    name = variant.format(archive.names[index])
    entries = list(archive.entries)
    entries.insert(position, tar_entry(name, b"dup"))
    blob = archive.gzip(tar_bytes(entries, tar_format=archive.tar_format))
    try:
        validate_artifact(io.BytesIO(blob), LIMITS)
    except ArtifactRejected as exc:
        assert exc.reason == "duplicate_member"
    else:
        raise AssertionError(f"duplicate {name!r} was accepted")


def _validate_only_rejects(blob: bytes, limits: ArtifactLimits = TEST_LIMITS, chunk_size: int = 4096) -> None:
    try:
        validate_artifact(io.BytesIO(blob), limits, chunk_size=chunk_size)
    except ArtifactRejected as exc:
        assert exc.reason in REASONS


@PROPERTY_SETTINGS
@given(blob=st.binary(max_size=4096), chunk_size=st.sampled_from([1, 100, 4096]))
def test_arbitrary_bytes_never_raise_anything_but_artifact_rejected(blob: bytes, chunk_size: int) -> None:
    _validate_only_rejects(blob, chunk_size=chunk_size)


@PROPERTY_SETTINGS
@given(payload=st.binary(max_size=4096))
def test_gzipped_arbitrary_bytes_never_raise_anything_but_artifact_rejected(payload: bytes) -> None:
    _validate_only_rejects(gzip_bytes(payload, level=1))


@PROPERTY_SETTINGS
@given(
    archive=safe_archives(),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), min_size=1, max_size=8),
    layer=st.sampled_from(["tar", "gzip"]),
)
def test_corrupted_archives_never_raise_anything_but_artifact_rejected(
    archive: SafeArchive, flips: list[tuple[int, int]], layer: str
) -> None:
    raw = bytearray(archive.tar())
    if layer == "tar":
        for index, mask in flips:
            raw[index % len(raw)] ^= mask
        blob = archive.gzip(bytes(raw))
    else:
        corrupted = bytearray(archive.gzip(bytes(raw)))
        for index, mask in flips:
            corrupted[index % len(corrupted)] ^= mask
        blob = bytes(corrupted)
    _validate_only_rejects(blob, LIMITS)


@PROPERTY_SETTINGS
@given(cut=st.integers(min_value=0), garbage=st.binary(min_size=1, max_size=64))
def test_truncated_or_extended_good_artifacts_are_rejected_not_crashed(cut: int, garbage: bytes) -> None:
    data = good_artifact()
    truncated = data[: cut % len(data)]
    try:
        validate_artifact(io.BytesIO(truncated), TEST_LIMITS)
    except ArtifactRejected as exc:
        assert exc.reason in {"object_empty", "not_gzip", "truncated_gzip"}
    else:
        raise AssertionError("a truncated artifact was accepted")
    if garbage.count(0) != len(garbage):  # NUL padding is accepted by design
        try:
            validate_artifact(io.BytesIO(data + garbage), TEST_LIMITS)
        except ArtifactRejected as exc:
            assert exc.reason in {"not_gzip", "truncated_gzip", "not_tar"}
        else:
            raise AssertionError("trailing garbage was accepted")
