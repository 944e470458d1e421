"""Unit tests for the streaming artifact validator (modelrelay.artifact)."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
import tracemalloc

import pytest

from modelrelay.artifact import (
    REASONS,
    ArtifactLimits,
    ArtifactRejected,
    ArtifactReport,
    validate_artifact,
)
from modelrelay_sandbox.artifact_factory import (
    BAD_ARTIFACTS,
    GOOD_ARTIFACTS,
    TEST_LIMITS,
    IteratorReader,
    bomb_artifact,
    good_artifact,
    gzip_bytes,
    iter_streamed_artifact,
    tar_bytes,
    tar_entry,
)

MiB = 1024 * 1024
DEFAULT_LIMITS = ArtifactLimits()

# Reasons whose message must name the offending member.
MEMBER_REASONS = {
    "absolute_path",
    "path_traversal",
    "symlink_member",
    "hardlink_member",
    "device_member",
    "fifo_member",
    "duplicate_member",
    "name_too_long",
    "name_not_utf8",
    "too_many_members",
}
EXPECTED_MEMBERS = {
    "absolute_path": "/etc/passwd",
    "traversal_dotdot": "../../etc/passwd",
    "traversal_nested": "a/../../b",
    "symlink_outside": "creds",
    "hardlink_outside": "shadow",
    "char_device": "dev/null",
    "block_device": "dev/sda",
    "fifo": "pipe",
    "duplicate_name": "model.joblib",
    "name_not_utf8_gnu": "weights-\\xff.bin",
    "contiguous_file": "contig.bin",
    "bomb_declared_size": "weights.bin",
}
# Cases that only fail because of TEST_LIMITS' small limits.
LIMIT_DEPENDENT = {
    "oversized_object",
    "bomb_declared_size",
    "bomb_ratio",
    "bomb_after_end_of_archive",
    "too_many_members",
}


def validate(data: bytes, limits: ArtifactLimits = TEST_LIMITS, **kwargs: int) -> ArtifactReport:
    return validate_artifact(io.BytesIO(data), limits, **kwargs)


def rejection(data: bytes, limits: ArtifactLimits = TEST_LIMITS, **kwargs: int) -> ArtifactRejected:
    with pytest.raises(ArtifactRejected) as excinfo:
        validate(data, limits, **kwargs)
    return excinfo.value


def raw_header(name: str, kind: bytes, data: bytes = b"", size: int | None = None) -> bytes:
    """A single ustar header (+ padded data) built without tarfile's validation of the type."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if size is None else size
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + bytes(-len(data) % 512)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


class ExplodingStream:
    """A stream that fails the test if it is read at all."""

    def read(self, size: int = -1, /) -> bytes:
        raise AssertionError("the stream must not be read")


class FailingStream:
    """Returns the first chunk of ``data``, then raises ``error`` (like a dropped S3 connection)."""

    def __init__(self, data: bytes, error: Exception) -> None:
        self._data = io.BytesIO(data)
        self._error = error
        self.reads = 0

    def read(self, size: int = -1, /) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise self._error
        return self._data.read(size)


# --------------------------------------------------------------------------- good artifacts


@pytest.mark.parametrize("case", sorted(GOOD_ARTIFACTS))
def test_given_good_artifact_when_validated_then_report_matches_bytes(case: str) -> None:
    # Given a valid artifact variant
    data = GOOD_ARTIFACTS[case]()
    # When it is validated
    report = validate(data)
    # Then the report describes exactly those bytes
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert report.member_count == len(members)
    assert report.uncompressed_bytes == len(gzip.decompress(data))


def test_given_default_good_artifact_then_it_is_deterministic_with_five_members() -> None:
    assert good_artifact() == good_artifact()
    assert validate(good_artifact()).member_count == 5


@pytest.mark.parametrize("chunk_size", [1, 7, 511, 512, 513, 4096, MiB])
@pytest.mark.parametrize("case", ["default", "dot_prefixed", "multi_member_gzip", "gzip_nul_padding"])
def test_given_any_chunk_size_when_validated_then_same_report(case: str, chunk_size: int) -> None:
    data = GOOD_ARTIFACTS[case]()
    assert validate(data, chunk_size=chunk_size) == validate(data)


def test_given_stream_returning_bytearray_or_memoryview_then_accepted() -> None:
    data = good_artifact()

    class OddStream:
        def __init__(self) -> None:
            self._src = io.BytesIO(data)
            self._n = 0

        def read(self, size: int = -1, /) -> bytes:
            self._n += 1
            chunk = self._src.read(size)
            return bytearray(chunk) if self._n % 2 else memoryview(chunk)  # type: ignore[return-value]

    assert validate_artifact(OddStream(), TEST_LIMITS, chunk_size=100).sha256 == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- bad artifacts


@pytest.mark.parametrize("case", sorted(BAD_ARTIFACTS))
def test_given_bad_artifact_when_validated_then_rejected_with_named_reason(case: str) -> None:
    # Given a hostile or broken artifact
    expected_reason, build = BAD_ARTIFACTS[case]
    # When it is validated with the test limits
    exc = rejection(build())
    # Then the specific reason is reported and named in the message
    assert exc.reason == expected_reason
    assert f"({expected_reason})" in str(exc)
    assert REASONS[expected_reason] in str(exc)
    if expected_reason in MEMBER_REASONS:
        assert exc.member is not None
        assert repr(exc.member) in str(exc)
    if case in EXPECTED_MEMBERS:
        assert exc.member == EXPECTED_MEMBERS[case]


@pytest.mark.parametrize("case", sorted(set(BAD_ARTIFACTS) - LIMIT_DEPENDENT))
def test_given_bad_artifact_when_validated_with_default_limits_then_same_reason(case: str) -> None:
    expected_reason, build = BAD_ARTIFACTS[case]
    assert rejection(build(), DEFAULT_LIMITS).reason == expected_reason


def test_bad_artifacts_cover_every_reason_reachable_from_bytes() -> None:
    covered = {reason for reason, _ in BAD_ARTIFACTS.values()}
    assert covered == set(REASONS) - {"size_mismatch"}  # size_mismatch needs expected_size
    assert len(BAD_ARTIFACTS) >= 20


def test_reason_codes_are_exactly_the_documented_set() -> None:
    assert set(REASONS) == {
        "object_empty",
        "object_too_large",
        "size_mismatch",
        "not_gzip",
        "truncated_gzip",
        "not_tar",
        "empty_tar",
        "absolute_path",
        "path_traversal",
        "symlink_member",
        "hardlink_member",
        "device_member",
        "fifo_member",
        "duplicate_member",
        "name_too_long",
        "name_not_utf8",
        "uncompressed_too_large",
        "compression_ratio_exceeded",
        "too_many_members",
        "unsupported_member",
    }
    assert all(description and "\n" not in description for description in REASONS.values())


# --------------------------------------------------------------------------- object size


def test_given_declared_size_over_limit_when_validated_then_rejected_without_reading() -> None:
    with pytest.raises(ArtifactRejected) as excinfo:
        validate_artifact(ExplodingStream(), TEST_LIMITS, expected_size=TEST_LIMITS.max_object_bytes + 1)
    assert excinfo.value.reason == "object_too_large"


def test_given_declared_size_zero_when_validated_then_object_empty_without_reading() -> None:
    with pytest.raises(ArtifactRejected) as excinfo:
        validate_artifact(ExplodingStream(), TEST_LIMITS, expected_size=0)
    assert excinfo.value.reason == "object_empty"


def test_given_declared_size_at_limit_then_reading_proceeds() -> None:
    data = good_artifact()
    limits = ArtifactLimits(max_object_bytes=len(data))
    assert validate(data, limits, expected_size=len(data)).size == len(data)
    assert rejection(data, ArtifactLimits(max_object_bytes=len(data) - 1)).reason == "object_too_large"


@pytest.mark.parametrize("delta", [-1, 1, -1000])
def test_given_wrong_expected_size_when_validated_then_size_mismatch(delta: int) -> None:
    data = good_artifact()
    exc = rejection(data, expected_size=len(data) + delta)
    assert exc.reason == "size_mismatch"
    assert str(len(data) + delta) in str(exc)


def test_given_truncated_download_with_expected_size_then_size_mismatch_not_truncated_gzip() -> None:
    data = good_artifact()
    assert rejection(data[:100], expected_size=len(data)).reason == "size_mismatch"


def test_given_matching_expected_size_then_report_size_matches() -> None:
    data = good_artifact()
    assert validate(data, expected_size=len(data)).size == len(data)


# --------------------------------------------------------------------------- gzip layer


def test_given_multi_member_gzip_then_accepted_and_hash_covers_all_members() -> None:
    raw = tar_bytes([tar_entry("model.joblib", b"m" * 3000), tar_entry("code/inference.py", b"print(1)\n")])
    data = b"".join(gzip_bytes(raw[i : i + 700]) for i in range(0, len(raw), 700))
    report = validate(data)
    assert report.member_count == 2
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.uncompressed_bytes == len(raw)


def test_given_empty_gzip_member_in_the_middle_then_accepted() -> None:
    raw = tar_bytes([tar_entry("model.joblib", b"m")])
    data = gzip_bytes(raw[:512]) + gzip_bytes(b"") + gzip_bytes(raw[512:])
    assert validate(data).member_count == 1


def test_given_trailing_nul_padding_then_accepted_and_hashed() -> None:
    data = good_artifact() + bytes(5000)
    report = validate(data, chunk_size=1000)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data)


@pytest.mark.parametrize(
    ("trailer", "reason"),
    [
        (b"garbage", "not_gzip"),
        (bytes(100) + b"x", "not_gzip"),
        (b"\x1f", "truncated_gzip"),
        (b"\x1f\x8b\x08\x00", "truncated_gzip"),
        (b"\x1f\x00", "not_gzip"),
    ],
)
def test_given_trailing_bytes_after_last_gzip_member_then_rejected(trailer: bytes, reason: str) -> None:
    assert rejection(good_artifact() + trailer).reason == reason


def test_given_second_gzip_member_with_data_after_end_of_archive_then_not_tar() -> None:
    data = good_artifact() + gzip_bytes(b"smuggled payload")
    exc = rejection(data)
    assert exc.reason == "not_tar"
    assert "end-of-archive" in str(exc)


def test_given_second_gzip_member_with_only_zeros_then_accepted() -> None:
    assert validate(good_artifact() + gzip_bytes(bytes(4096))).member_count == 5


@pytest.mark.parametrize("cut", [1, 2, 5, 10, 30, -9, -4, -1])
def test_given_gzip_cut_anywhere_then_rejected_as_gzip_problem(cut: int) -> None:
    data = good_artifact()
    assert rejection(data[:cut]).reason in {"not_gzip", "truncated_gzip"}


# --------------------------------------------------------------------------- tar layer


def test_given_archive_without_end_of_archive_blocks_then_accepted() -> None:
    raw = tar_bytes([tar_entry("model.joblib", b"m" * 1000), tar_entry("inference.py", b"x")])
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        last = tar.getmembers()[-1]
    end = last.offset_data + last.size + (-last.size % 512)
    assert validate(gzip_bytes(raw[:end])).member_count == 2


def test_given_single_zero_block_end_then_accepted() -> None:
    raw = raw_header("model.joblib", tarfile.REGTYPE, b"m") + bytes(512)
    assert validate(gzip_bytes(raw)).member_count == 1


@pytest.mark.parametrize("extra", [1, 100, 511])
def test_given_archive_ending_inside_a_header_then_not_tar(extra: int) -> None:
    raw = raw_header("model.joblib", tarfile.REGTYPE, b"m") + raw_header("b", tarfile.REGTYPE, b"b")[:extra]
    assert rejection(gzip_bytes(raw)).reason == "not_tar"


def test_given_corrupted_header_checksum_then_not_tar() -> None:
    raw = bytearray(tar_bytes([tar_entry("model.joblib", b"m")]))
    raw[0] ^= 0x01
    exc = rejection(gzip_bytes(bytes(raw)))
    assert exc.reason == "not_tar"
    assert "checksum" in str(exc)


def test_given_pax_size_over_limit_then_uncompressed_too_large_before_data() -> None:
    info = tarfile.TarInfo("weights.bin")
    info.size = 9 * 1024**3  # > 8 GiB: stored as a pax "size" record
    data = gzip_bytes(info.tobuf(format=tarfile.PAX_FORMAT))
    exc = rejection(data, ArtifactLimits(max_uncompressed_bytes=8 * 1024**3))
    assert exc.reason == "uncompressed_too_large"
    assert exc.member == "weights.bin"
    assert rejection(data, DEFAULT_LIMITS).reason == "not_tar"  # within limits, but the data is missing


def test_given_gnu_base256_size_then_parsed() -> None:
    info = tarfile.TarInfo("weights.bin")
    info.size = 16 * 1024**3
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    assert header[124] == 0x80  # base-256 encoded
    assert rejection(gzip_bytes(header), ArtifactLimits(max_uncompressed_bytes=10 * 1024**3)).reason == (
        "uncompressed_too_large"
    )


def test_given_malformed_pax_record_then_not_tar() -> None:
    raw = raw_header("pax", tarfile.XHDTYPE, b"99 path=x\n") + raw_header("a", tarfile.REGTYPE, b"a")
    assert rejection(gzip_bytes(raw)).reason == "not_tar"


def test_given_pax_path_record_then_it_overrides_the_header_name() -> None:
    raw = raw_header("pax", tarfile.XHDTYPE, pax_record("path", "../escape")) + raw_header("safe", tarfile.REGTYPE)
    exc = rejection(gzip_bytes(raw))
    assert exc.reason == "path_traversal"
    assert exc.member == "../escape"


def test_given_extension_header_without_member_then_not_tar() -> None:
    raw = raw_header("pax", tarfile.XHDTYPE, pax_record("path", "a")) + bytes(1024)
    assert rejection(gzip_bytes(raw)).reason == "not_tar"


def test_given_too_many_extension_headers_in_a_row_then_unsupported() -> None:
    ext = raw_header("pax", tarfile.XHDTYPE, pax_record("comment", "x"))
    raw = ext * 9 + raw_header("a", tarfile.REGTYPE, b"a")
    assert rejection(gzip_bytes(raw)).reason == "unsupported_member"


def test_given_huge_pax_header_then_rejected_without_reading_it() -> None:
    raw = raw_header("pax", tarfile.XHDTYPE, size=2 * 1024**3)  # data never follows
    assert rejection(gzip_bytes(raw), DEFAULT_LIMITS).reason == "unsupported_member"


def test_given_huge_gnu_long_name_then_name_too_long_without_reading_it() -> None:
    raw = raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, size=2 * 1024**3) + b"evil" + bytes(508)
    exc = rejection(gzip_bytes(raw), DEFAULT_LIMITS)
    assert exc.reason == "name_too_long"
    assert exc.member == "evil"


def test_given_unknown_type_flag_then_unsupported_member() -> None:
    raw = raw_header("volume", b"V") + bytes(1024)
    assert rejection(gzip_bytes(raw)).reason == "unsupported_member"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/abs", "absolute_path"),
        ("//server/share", "absolute_path"),
        ("\\\\server\\share\\x", "absolute_path"),
        ("C:\\x", "absolute_path"),
        ("c:/x", "absolute_path"),
        ("C:drive-relative", "absolute_path"),
        ("..", "path_traversal"),
        ("a/..", "path_traversal"),
        ("a/../b", "path_traversal"),
        ("a\\..\\b", "path_traversal"),
        ("./../b", "path_traversal"),
    ],
)
def test_given_hostile_name_then_rejected(name: str, reason: str) -> None:
    exc = rejection(good_artifact({"model.joblib": b"m", name: b"x"}))
    assert exc.reason == reason
    assert exc.member == name


@pytest.mark.parametrize("name", ["a..b", "...", "..a", "a/b..", "dir/.hidden", "ab:c", "deep/er/still/file.bin"])
def test_given_unusual_but_safe_name_then_accepted(name: str) -> None:
    assert validate(good_artifact({name: b"x"})).member_count == 1


@pytest.mark.parametrize(("first", "second"), [("a/b", "a//b"), ("a/b", "./a/./b"), ("a", "a/"), ("x", "./x")])
def test_given_names_equal_after_normalisation_then_duplicate(first: str, second: str) -> None:
    exc = rejection(good_artifact({first: b"1", second: b"2"}))
    assert exc.reason == "duplicate_member"
    assert exc.member == second


def test_given_dot_directory_twice_then_duplicate() -> None:
    data = gzip_bytes(tar_bytes([tar_entry(".", kind=tarfile.DIRTYPE), tar_entry("./", kind=tarfile.DIRTYPE)]))
    assert rejection(data).reason == "duplicate_member"


def test_given_regular_file_with_empty_name_then_not_tar() -> None:
    assert rejection(good_artifact({"./": b"x"})).reason == "not_tar"


@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_given_name_at_byte_limit_then_accepted_and_one_more_byte_rejected(tar_format: int) -> None:
    limits = ArtifactLimits(max_member_name_bytes=300)
    at_limit = "é" * 150  # 300 UTF-8 bytes
    ok = gzip_bytes(tar_bytes([tar_entry(at_limit, b"x")], tar_format=tar_format))
    assert validate(ok, limits).member_count == 1
    over = gzip_bytes(tar_bytes([tar_entry(at_limit + "a", b"x")], tar_format=tar_format))
    assert rejection(over, limits).reason == "name_too_long"


def test_given_ustar_prefix_field_then_full_name_is_checked() -> None:
    name = "p" * 120 + "/../" + "n" * 20  # split into prefix + name by ustar
    data = gzip_bytes(tar_bytes([tar_entry(name, b"x")], tar_format=tarfile.USTAR_FORMAT))
    exc = rejection(data)
    assert exc.reason == "path_traversal"
    assert exc.member == name


def test_given_member_name_with_newline_then_message_escapes_it() -> None:
    exc = rejection(good_artifact({"../x\nINFO forged log line": b"x"}))
    assert "\n" not in str(exc)


# --------------------------------------------------------------------------- counts and bombs


def test_given_exactly_max_members_then_accepted() -> None:
    files = {f"f{i}": b"" for i in range(TEST_LIMITS.max_members)}
    assert validate(good_artifact(files)).member_count == TEST_LIMITS.max_members


def test_given_bomb_with_default_limits_then_ratio_exceeded_while_streaming() -> None:
    # Given 100 MiB of zeros compressed ~1000:1 (well under the 50 GiB size limit)
    data = bomb_artifact(100 * MiB)
    assert len(data) < MiB
    # When validated with the production defaults, Then the ratio check fires after 64 MiB
    exc = rejection(data, DEFAULT_LIMITS)
    assert exc.reason == "compression_ratio_exceeded"


def test_given_bomb_of_zeros_after_end_of_archive_then_uncompressed_limit_stops_stream() -> None:
    # Given a tiny valid archive followed by 48 MiB of zero padding inside the gzip stream
    raw = tar_bytes([tar_entry("model.joblib", b"m")])
    compressed = gzip.compress(raw + bytes(48 * MiB), compresslevel=6, mtime=0)
    limits = ArtifactLimits(max_uncompressed_bytes=16 * MiB, max_compression_ratio=1e9)
    # When validated under memory tracing
    tracemalloc.start()
    try:
        exc = rejection(compressed, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the decompressed-size limit is enforced while streaming, in bounded memory
    assert exc.reason == "uncompressed_too_large"
    assert peak < 8 * MiB


# --------------------------------------------------------------------------- streams and memory


def test_given_stream_error_when_reading_then_it_propagates_unchanged() -> None:
    error = ConnectionResetError("connection reset by peer")
    stream = FailingStream(good_artifact(), error)
    with pytest.raises(ConnectionResetError) as excinfo:
        validate_artifact(stream, TEST_LIMITS, chunk_size=100)
    assert excinfo.value is error


def test_given_large_streamed_artifact_when_validated_then_memory_stays_bounded() -> None:
    # Given a ~64 MiB artifact produced on the fly by a generator
    member_bytes = 64 * MiB
    reader = IteratorReader(iter_streamed_artifact(member_bytes, seed=3))
    # When it is validated while tracing allocations
    tracemalloc.start()
    try:
        report = validate_artifact(reader, DEFAULT_LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then it passes, every byte was hashed, and peak traced memory stays far below the artifact size
    assert report.member_count == 1
    assert report.size == reader.bytes_read > member_bytes
    assert report.uncompressed_bytes >= member_bytes + 512
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    expected = hashlib.sha256()
    for chunk in iter_streamed_artifact(member_bytes, seed=3):
        expected.update(chunk)
    assert report.sha256 == expected.hexdigest()


# --------------------------------------------------------------------------- API objects


def test_artifact_rejected_str_names_reason_and_member_and_pickles() -> None:
    exc = ArtifactRejected("symlink_member", "symbolic link to '/etc'", "link")
    assert str(exc).startswith("Artifact rejected (symlink_member): ")
    assert "'link'" in str(exc)
    clone = pickle.loads(pickle.dumps(exc))  # noqa: S301 - round-trips our own object
    assert (clone.reason, clone.detail, clone.member, str(clone)) == (exc.reason, exc.detail, exc.member, str(exc))


def test_artifact_rejected_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown artifact rejection reason"):
        ArtifactRejected("not_a_reason", "x")


@pytest.mark.parametrize(
    "kwargs",
    [{"max_object_bytes": 0}, {"max_members": -1}, {"max_compression_ratio": 0.0}, {"ratio_check_threshold_bytes": -1}],
)
def test_invalid_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ArtifactLimits(**kwargs)  # type: ignore[arg-type]


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        validate_artifact(io.BytesIO(good_artifact()), TEST_LIMITS, chunk_size=0)
    with pytest.raises(ValueError):
        validate_artifact(io.BytesIO(good_artifact()), TEST_LIMITS, expected_size=-1)
