"""Streaming, bounded-memory validation of model artifacts (``model.tar.gz``).

:func:`validate_artifact` reads the object exactly once, in ``chunk_size``
pieces, and in the same pass

* feeds every byte to SHA-256 (the digest covers the whole object as stored,
  including any trailing padding),
* gunzips it with :mod:`zlib` using ``max_length`` so that no more than
  ``chunk_size`` decompressed bytes exist at any time (a decompression bomb is
  stopped as soon as a limit is crossed, long before it could fill memory),
* walks the tar headers with a small built-in parser (POSIX ustar, pax, GNU and
  v7 headers).  Member data is skipped in bounded chunks and never stored;
  nothing is written to disk.

The first problem found raises :class:`ArtifactRejected` with a stable reason
code (see :data:`REASONS`).  Exceptions raised by ``stream.read`` itself (for
example a botocore network error) propagate unchanged: they are not
rejections.

Memory is bounded by a few ``chunk_size`` buffers, one pax header (capped at
:data:`MAX_PAX_HEADER_BYTES`) and a 16-byte BLAKE2b digest per member name for
duplicate detection (about 100 bytes per member, i.e. ~10 MB for the default
100 000 members); names themselves are not retained.

Decisions on ambiguous inputs
-----------------------------
* **Multi-member gzip** (concatenated gzip streams, as produced by
  ``cat a.gz b.gz``) is accepted; the tar archive may span the members.
* **After the last gzip member** only NUL padding is accepted (as ``gzip -d``
  and Python's :mod:`gzip` do).  Any other trailing bytes are rejected as
  ``not_gzip`` (the object is not purely gzip data); trailing bytes that start
  a gzip member but end early are ``truncated_gzip``.
* **Corrupt deflate data**, CRC or length-check failures and a gzip stream that
  ends early are all ``truncated_gzip``; a malformed gzip *header* is
  ``not_gzip``.
* **End of the tar archive**: the first all-zero 512-byte block ends the
  archive (as Python's :mod:`tarfile` does).  Everything after it in the
  decompressed stream must be NUL padding, otherwise the archive is rejected as
  ``not_tar``: extractors that ignore zero blocks (``tar -i``,
  ``tarfile.open(ignore_zeros=True)``) would otherwise see members this
  validator never inspected.
* **Missing end-of-archive blocks**: an archive whose decompressed data ends
  exactly after a complete member (data padded to 512 bytes) is accepted, as
  GNU tar and :mod:`tarfile` accept it.  Ending inside a header or inside
  member data is ``not_tar``.
* A gzip stream that decompresses to **zero bytes**, or whose first tar block is
  the end-of-archive marker, is ``empty_tar``.
* **Names**: the member name is the pax ``path`` record if present, else the
  GNU long name (``L`` record), else ustar ``prefix/name``.  It is checked as
  raw bytes: longer than ``max_member_name_bytes`` is ``name_too_long``, not
  UTF-8 is ``name_not_utf8``.  ``\\`` is treated as ``/``; a leading ``/``, a
  UNC root (``\\\\``) or a Windows drive prefix (``C:``, including
  drive-relative ``C:foo``) is ``absolute_path``; any ``..`` component is
  ``path_traversal``.  Names are normalised for duplicate detection by
  dropping empty and ``.`` components (``./a/`` == ``a``).  ``./`` itself is an
  accepted directory entry (``tar -C dir -czf x.tgz .``); a non-directory whose
  name normalises to nothing, or any name containing NUL, is ``not_tar``.
* **Member types**: only regular files (``0``, NUL, and old-style NUL-typed
  names ending in ``/``, which are directories) and directories (``5``) are
  allowed.  Contiguous files (``7``), GNU sparse files (``S`` headers or pax
  ``GNU.sparse.*`` records), GNU dump directories, multi-volume/volume labels
  and unknown vendor types are ``unsupported_member``, as are pax global
  headers that set ``path``/``linkpath``/``size``, pax headers larger than
  :data:`MAX_PAX_HEADER_BYTES` and more than :data:`MAX_EXTENSION_HEADERS`
  extension headers in a row.
* **Sizes**: the sum of the member sizes declared in the headers is checked
  against ``max_uncompressed_bytes`` as each header is read (so a bomb
  announced by its header is rejected before decompressing it); the
  decompressed stream (headers, padding and data) is counted as the tar walker
  consumes it, never more than one ``chunk_size`` piece ahead of production.
  The reported ``uncompressed_bytes`` is that whole stream.  The compression
  ratio is decompressed bytes divided by the compressed bytes the decompressor
  has *consumed* so far (stricter than bytes read), checked once more than
  ``ratio_check_threshold_bytes`` (default 64 MiB) have been decompressed.
* Checks on one member run in this order: name (length, UTF-8, absolute,
  traversal), type, member count, duplicate, declared size.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Final, Protocol

__all__ = [
    "MAX_EXTENSION_HEADERS",
    "MAX_PAX_HEADER_BYTES",
    "REASONS",
    "ArtifactLimits",
    "ArtifactRejected",
    "ArtifactReport",
    "Readable",
    "validate_artifact",
]

_MiB: Final = 1024 * 1024

#: Largest pax extended header (``x``/``g`` record data) read into memory.
MAX_PAX_HEADER_BYTES: Final = 1 * _MiB
#: Largest number of consecutive extension headers (pax ``x``/``g``, GNU ``L``/``K``).
MAX_EXTENSION_HEADERS: Final = 8

_BLOCK: Final = 512
_FEED_BYTES: Final = 64 * 1024  # compressed bytes handed to zlib per call
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZERO_BLOCK: Final = bytes(_BLOCK)
_DRIVE_PREFIX: Final = re.compile(r"[A-Za-z]:")
_NAME_DISPLAY_CHARS: Final = 200


class Readable(Protocol):
    """Anything with ``read(size) -> bytes`` (file objects, botocore ``StreamingBody``)."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ArtifactLimits:
    """Limits enforced by :func:`validate_artifact`.

    ``ratio_check_threshold_bytes`` is an addition to the original API: the
    compression ratio is only checked once more than this many bytes have been
    decompressed, so small, well-compressing artifacts pass.
    """

    max_object_bytes: int = 10 * 1024**3
    max_uncompressed_bytes: int = 50 * 1024**3
    max_compression_ratio: float = 200.0
    max_members: int = 100_000
    max_member_name_bytes: int = 1024
    ratio_check_threshold_bytes: int = 64 * _MiB

    def __post_init__(self) -> None:
        for field_name in (
            "max_object_bytes",
            "max_uncompressed_bytes",
            "max_members",
            "max_member_name_bytes",
        ):
            if getattr(self, field_name) <= 0:
                raise ValueError(f"ArtifactLimits.{field_name} must be positive")
        if not self.max_compression_ratio > 0:
            raise ValueError("ArtifactLimits.max_compression_ratio must be positive")
        if self.ratio_check_threshold_bytes < 0:
            raise ValueError("ArtifactLimits.ratio_check_threshold_bytes must be >= 0")


REASONS: Final[dict[str, str]] = {
    "object_empty": "the object is empty (0 bytes)",
    "object_too_large": "the object is larger than the allowed maximum size",
    "size_mismatch": "the number of bytes read differs from the expected object size",
    "not_gzip": "the object is not gzip-compressed",
    "truncated_gzip": "the gzip stream is truncated or corrupt",
    "not_tar": "the decompressed data is not a valid tar archive",
    "empty_tar": "the tar archive has no members",
    "absolute_path": "a member has an absolute path",
    "path_traversal": "a member path contains a '..' component",
    "symlink_member": "the archive contains a symbolic link",
    "hardlink_member": "the archive contains a hard link",
    "device_member": "the archive contains a character or block device",
    "fifo_member": "the archive contains a FIFO (named pipe)",
    "duplicate_member": "two members have the same normalised name",
    "name_too_long": "a member name is longer than allowed",
    "name_not_utf8": "a member name is not valid UTF-8",
    "uncompressed_too_large": "the uncompressed size exceeds the allowed maximum",
    "compression_ratio_exceeded": "the compression ratio exceeds the allowed maximum (possible decompression bomb)",
    "too_many_members": "the archive has more members than allowed",
    "unsupported_member": "a member has an unsupported type (only regular files and directories are allowed)",
}


class ArtifactRejected(Exception):
    """The artifact failed validation for a specific, named reason.

    ``reason`` is a key of :data:`REASONS`, ``detail`` a short explanation and
    ``member`` the offending member name (display form: undecodable bytes are
    backslash-escaped, very long names truncated) or ``None``.
    """

    reason: str
    detail: str
    member: str | None

    def __init__(self, reason: str, detail: str, member: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown artifact rejection reason {reason!r}")
        super().__init__(reason, detail, member)
        self.reason = reason
        self.detail = detail
        self.member = member

    def __str__(self) -> str:
        text = f"Artifact rejected ({self.reason}): {REASONS[self.reason]}"
        if self.member is not None:
            text += f"; member {self.member!r}"
        if self.detail:
            text += f": {self.detail}"
        return text


@dataclass(frozen=True)
class ArtifactReport:
    """Result of a successful validation."""

    sha256: str
    size: int
    uncompressed_bytes: int
    member_count: int


def validate_artifact(
    stream: Readable,
    limits: ArtifactLimits,
    expected_size: int | None = None,
    chunk_size: int = 1024 * 1024,
) -> ArtifactReport:
    """Stream once: hash, gunzip and walk the tar; raise ArtifactRejected on the first problem.

    ``expected_size`` (e.g. S3 ``ContentLength``) is checked against
    ``max_object_bytes`` before anything is read, and against the number of
    bytes actually read (``size_mismatch``, raised as soon as more bytes than
    expected arrive, or at end of stream if fewer did).  See the module
    docstring for how ambiguous inputs are classified.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    if expected_size is not None:
        if expected_size < 0:
            raise ValueError("expected_size must be >= 0")
        if expected_size > limits.max_object_bytes:
            raise ArtifactRejected(
                "object_too_large",
                f"declared size {expected_size} bytes exceeds the limit of {limits.max_object_bytes} bytes",
            )
        if expected_size == 0:
            raise ArtifactRejected("object_empty", "the declared object size is 0 bytes")

    source = _Source(stream, limits, expected_size, chunk_size)
    gunzip = _Gunzip(source, limits, chunk_size)
    member_count = _TarWalker(gunzip, limits).walk()
    gunzip.drain_zero_padding()
    return ArtifactReport(
        sha256=source.hexdigest(),
        size=source.size,
        uncompressed_bytes=gunzip.position,
        member_count=member_count,
    )


# --------------------------------------------------------------------------- source


class _Source:
    """Reads the raw object in chunks, hashing and enforcing object-size limits."""

    def __init__(self, stream: Readable, limits: ArtifactLimits, expected_size: int | None, chunk_size: int) -> None:
        self._stream = stream
        self._limits = limits
        self._expected = expected_size
        self._chunk_size = chunk_size
        self._hash = hashlib.sha256()
        self.size = 0
        self.eof = False

    def read(self) -> bytes:
        if self.eof:
            return b""
        data = self._stream.read(self._chunk_size)  # stream errors propagate unchanged
        if not isinstance(data, bytes):
            if data is None:
                raise TypeError("stream.read() returned None (non-blocking streams are not supported)")
            data = bytes(data)
        if not data:
            self.eof = True
            if self.size == 0:
                raise ArtifactRejected("object_empty", "the stream ended before any byte was read")
            if self._expected is not None and self.size != self._expected:
                raise ArtifactRejected(
                    "size_mismatch",
                    f"read {self.size} bytes but the expected size is {self._expected} bytes",
                )
            return b""
        self.size += len(data)
        self._hash.update(data)
        if self.size > self._limits.max_object_bytes:
            raise ArtifactRejected(
                "object_too_large",
                f"more than {self._limits.max_object_bytes} bytes were read",
            )
        if self._expected is not None and self.size > self._expected:
            raise ArtifactRejected(
                "size_mismatch",
                f"read more than the expected {self._expected} bytes",
            )
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


# --------------------------------------------------------------------------- gunzip


class _Gunzip:
    """Incremental, multi-member gunzip with bounded output and limit accounting."""

    def __init__(self, source: _Source, limits: ArtifactLimits, chunk_size: int) -> None:
        self._src = source
        self._limits = limits
        self._max_out = chunk_size
        self._raw = b""  # current compressed chunk
        self._raw_pos = 0  # bytes of _raw already consumed by zlib
        self._inflater: zlib._Decompress | None = None
        self._members = 0
        self._done = False
        self._out = b""  # current decompressed piece
        self._out_pos = 0
        self.position = 0  # decompressed bytes handed to the tar walker so far

    # -- raw input helpers

    def _pending(self) -> int:
        return len(self._raw) - self._raw_pos

    def _refill(self) -> bool:
        """Append the next source chunk to the unconsumed input; False at end of source."""
        data = self._src.read()
        if not data:
            return False
        if self._raw_pos < len(self._raw):
            self._raw = self._raw[self._raw_pos :] + data
        else:
            self._raw = data
        self._raw_pos = 0
        return True

    def _consumed_compressed(self) -> int:
        return self._src.size - self._pending()

    # -- gzip member boundaries

    def _begin_member(self) -> bool:
        """Prepare the next gzip member; False when the compressed data is finished."""
        while self._pending() < len(_GZIP_MAGIC) and self._refill():
            pass
        head = self._raw[self._raw_pos : self._raw_pos + len(_GZIP_MAGIC)]
        if not head:
            return False
        offset = self._consumed_compressed()
        if self._members == 0:
            if head != _GZIP_MAGIC:
                raise ArtifactRejected(
                    "not_gzip", f"the object starts with {head.hex()} instead of the gzip magic 1f8b"
                )
        elif head[0] == 0:
            self._skip_zero_input(offset)
            return False
        elif head != _GZIP_MAGIC:
            if _GZIP_MAGIC.startswith(head):
                raise ArtifactRejected("truncated_gzip", f"a gzip member starting at offset {offset} is cut short")
            raise ArtifactRejected(
                "not_gzip",
                f"unexpected non-gzip data at offset {offset} after gzip member {self._members}",
            )
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        return True

    def _skip_zero_input(self, offset: int) -> None:
        """Consume NUL padding after the last gzip member (accepted, like ``gzip -d``)."""
        while True:
            rest = self._raw[self._raw_pos :]
            if rest.count(0) != len(rest):
                raise ArtifactRejected(
                    "not_gzip",
                    f"non-zero trailing data after the last gzip member (padding starts at offset {offset})",
                )
            self._raw, self._raw_pos = b"", 0
            if not self._refill():
                return

    # -- decompression

    def _produce(self) -> bytes:
        """Next non-empty piece of decompressed data, or b"" at the end of the gzip data."""
        while not self._done:
            inflater = self._inflater
            if inflater is None:
                if not self._begin_member():
                    self._done = True
                    break
                continue
            if self._pending() == 0:
                self._refill()
            piece = memoryview(self._raw)[self._raw_pos : self._raw_pos + _FEED_BYTES]
            try:
                out = inflater.decompress(piece, self._max_out)
            except zlib.error as exc:
                raise _zlib_rejection(exc, self._consumed_compressed()) from None
            if inflater.eof:
                self._raw_pos += len(piece) - len(inflater.unused_data)
                self._inflater = None
                self._members += 1
            else:
                self._raw_pos += len(piece) - len(inflater.unconsumed_tail)
                if not out and self._pending() == 0 and self._src.eof:
                    raise ArtifactRejected(
                        "truncated_gzip",
                        f"the gzip stream ends early after {self._src.size} compressed bytes",
                    )
            if out:
                return out
        return b""

    def _consume(self, size: int) -> None:
        """Account for ``size`` decompressed bytes handed to the tar walker and enforce the limits.

        Accounting happens on consumption rather than production so that a header announcing
        an oversized member is judged before the ratio of the zeros that follow it; at most one
        ``chunk_size`` piece is ever produced ahead of the accounting.
        """
        self.position += size
        limits = self._limits
        if self.position > limits.max_uncompressed_bytes:
            raise ArtifactRejected(
                "uncompressed_too_large",
                f"the decompressed stream exceeds {limits.max_uncompressed_bytes} bytes",
            )
        if self.position > limits.ratio_check_threshold_bytes:
            consumed = max(1, self._consumed_compressed())
            ratio = self.position / consumed
            if ratio > limits.max_compression_ratio:
                raise ArtifactRejected(
                    "compression_ratio_exceeded",
                    f"{self.position} bytes decompressed from {consumed} compressed bytes "
                    f"(ratio {ratio:.0f} > {limits.max_compression_ratio:g})",
                )

    # -- reader interface for the tar walker

    def _next_piece(self) -> bool:
        self._out = self._produce()
        self._out_pos = 0
        return bool(self._out)

    def read_exact(self, size: int) -> bytes:
        """Read ``size`` decompressed bytes; fewer only at the end of the stream."""
        parts: list[bytes] = []
        need = size
        while need:
            if self._out_pos >= len(self._out) and not self._next_piece():
                break
            take = min(need, len(self._out) - self._out_pos)
            parts.append(self._out[self._out_pos : self._out_pos + take])
            self._out_pos += take
            need -= take
            self._consume(take)
        return b"".join(parts)

    def skip(self, size: int) -> int:
        """Discard up to ``size`` decompressed bytes; returns how many were skipped."""
        need = size
        while need:
            if self._out_pos >= len(self._out) and not self._next_piece():
                break
            take = min(need, len(self._out) - self._out_pos)
            self._out_pos += take
            need -= take
            self._consume(take)
        return size - need

    def drain_zero_padding(self) -> None:
        """Consume the rest of the decompressed stream, which must be all NUL bytes."""
        while True:
            rest = self._out[self._out_pos :]
            if rest.count(0) != len(rest):
                offset = self.position + len(rest) - len(rest.lstrip(b"\0"))
                raise ArtifactRejected(
                    "not_tar",
                    f"non-zero data at decompressed offset {offset} after the tar end-of-archive "
                    "marker (possible hidden members)",
                )
            self._out_pos = len(self._out)
            self._consume(len(rest))
            if not self._next_piece():
                return


def _zlib_rejection(exc: zlib.error, offset: int) -> ArtifactRejected:
    message = str(exc)
    if any(word in message for word in ("header", "method", "window size")):
        return ArtifactRejected("not_gzip", f"invalid gzip header near offset {offset}: {message}")
    return ArtifactRejected("truncated_gzip", f"corrupt gzip data near offset {offset}: {message}")


# --------------------------------------------------------------------------- tar


class _NotTar(Exception):
    """Internal: a malformed header field (mapped to ``not_tar``)."""


def _display(name: bytes) -> str:
    text = name.decode("utf-8", "backslashreplace")
    if len(text) > _NAME_DISPLAY_CHARS:
        return text[:_NAME_DISPLAY_CHARS] + "..."
    return text


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes) -> int:
    """Parse a numeric header field: NUL/space-terminated octal, or GNU base-256."""
    if field and field[0] & 0x80:
        if field[0] != 0x80:  # 0xff (negative) and other forms are invalid for sizes
            raise _NotTar("negative or malformed base-256 number")
        return int.from_bytes(field[1:], "big")
    digits = _cstring(field).strip(b" ")
    if not digits:
        return 0
    if digits.translate(None, b"01234567"):
        raise _NotTar(f"invalid octal number {digits!r}")
    return int(digits, 8)


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156])
    unsigned = sum(block[:148]) + sum(block[156:]) + 8 * 0x20
    if stored == unsigned:
        return True
    # Some old tars summed the header as signed chars.
    high_bytes = sum(byte >= 0x80 for byte in block[:148]) + sum(byte >= 0x80 for byte in block[156:])
    return stored == unsigned - 256 * high_bytes


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    """Parse pax records ``"<len> <key>=<value>\\n"``; trailing NUL padding is ignored."""
    records: dict[bytes, bytes] = {}
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == 0:
            if data.count(0, pos) != end - pos:
                raise _NotTar("garbage after pax records")
            break
        space = data.find(b" ", pos, pos + 20)
        length_text = data[pos:space] if space > pos else b""
        if not length_text.isdigit():
            raise _NotTar("malformed pax record length")
        length = int(length_text)
        record_end = pos + length
        if record_end > end or record_end <= space + 1 or data[record_end - 1] != 0x0A:
            raise _NotTar("malformed pax record")
        record = data[space + 1 : record_end - 1]
        key, sep, value = record.partition(b"=")
        if not sep or not key:
            raise _NotTar("malformed pax record")
        records[key] = value
        pos = record_end
    return records


def _pax_size(value: bytes) -> int:
    if not value.isdigit():
        raise _NotTar(f"invalid pax size {value!r}")
    return int(value)


_PAX_OVERRIDES: Final = (b"path", b"linkpath", b"size")
_TYPE_NAMES: Final[dict[bytes, str]] = {
    b"7": "contiguous file",
    b"S": "GNU sparse file",
    b"D": "GNU dump directory",
    b"M": "GNU multi-volume continuation",
    b"N": "GNU long-name (obsolete)",
    b"V": "GNU volume label",
}


def _is_sparse_pax(records: dict[bytes, bytes]) -> bool:
    return any(key.startswith(b"GNU.sparse.") for key in records)


def _normalise_name(raw: bytes, limits: ArtifactLimits) -> str:
    """Check a member name; return its normalised form ('' for the archive root)."""
    display = _display(raw)
    if len(raw) > limits.max_member_name_bytes:
        raise ArtifactRejected(
            "name_too_long",
            f"the name is {len(raw)} bytes, more than {limits.max_member_name_bytes}",
            display,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactRejected("name_not_utf8", f"invalid UTF-8 at byte {exc.start}", display) from None
    if "\0" in text:
        raise ArtifactRejected("not_tar", "the name contains a NUL byte", display)
    path = text.replace("\\", "/")
    if path.startswith("/") or _DRIVE_PREFIX.match(path):
        raise ArtifactRejected("absolute_path", "the name is an absolute or drive-rooted path", display)
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArtifactRejected("path_traversal", "the name has a '..' component", display)
    return "/".join(parts)


def _check_type(typeflag: bytes, linkname: bytes, display: str, pax: dict[bytes, bytes]) -> None:
    if typeflag == b"1":
        raise ArtifactRejected("hardlink_member", f"hard link to {_display(linkname)!r}", display)
    if typeflag == b"2":
        raise ArtifactRejected("symlink_member", f"symbolic link to {_display(linkname)!r}", display)
    if typeflag in (b"3", b"4"):
        kind = "character" if typeflag == b"3" else "block"
        raise ArtifactRejected("device_member", f"{kind} device", display)
    if typeflag == b"6":
        raise ArtifactRejected("fifo_member", "named pipe", display)
    if typeflag not in (b"0", b"\0", b"5"):
        kind = _TYPE_NAMES.get(typeflag, "unknown type")
        raise ArtifactRejected("unsupported_member", f"type {typeflag!r} ({kind})", display)
    if _is_sparse_pax(pax):
        raise ArtifactRejected("unsupported_member", "GNU sparse file (pax GNU.sparse records)", display)


class _TarWalker:
    """Walks tar headers from a :class:`_Gunzip`, skipping member data in bounded chunks."""

    def __init__(self, gunzip: _Gunzip, limits: ArtifactLimits) -> None:
        self._gz = gunzip
        self._limits = limits
        self._header_offset = 0
        self.member_count = 0
        self._declared_total = 0
        self._seen: set[bytes] = set()  # 16-byte digests of normalised names
        # Extension records that apply to the next real member.
        self._pax: dict[bytes, bytes] = {}
        self._long_name: bytes | None = None
        self._long_link: bytes | None = None
        self._extensions = 0

    def walk(self) -> int:
        """Return the number of regular files + directories, or raise ArtifactRejected."""
        try:
            while self._next_header():
                pass
        except _NotTar as exc:
            raise ArtifactRejected(
                "not_tar", f"{exc} (tar header at decompressed offset {self._header_offset})"
            ) from None
        return self.member_count

    def _read_extension(self, size: int, what: str) -> bytes:
        data = self._gz.read_exact(size)
        padding = -size % _BLOCK
        if len(data) < size or self._gz.skip(padding) < padding:
            raise _NotTar(f"{what} is truncated")
        return data

    def _next_header(self) -> bool:
        """Process one header; False at the end of the archive."""
        self._header_offset = self._gz.position
        block = self._gz.read_exact(_BLOCK)
        if len(block) < _BLOCK or block == _ZERO_BLOCK:
            if self._extensions:
                raise _NotTar("the archive ends after an extension header without its member")
            if block and len(block) < _BLOCK:
                raise _NotTar("the data ends inside a tar header")
            if self.member_count == 0:
                raise ArtifactRejected("empty_tar", "no file or directory entries before the end of the archive")
            return False  # end-of-archive block, or a clean end without one
        if not _checksum_ok(block):
            raise _NotTar("tar header checksum mismatch")
        typeflag = block[156:157]
        size = _number(block[124:136])
        if typeflag in (b"x", b"g", b"L", b"K"):
            self._extension(typeflag, size)
        else:
            self._member(block, typeflag, size)
        return True

    def _extension(self, typeflag: bytes, size: int) -> None:
        limits = self._limits
        self._extensions += 1
        if self._extensions > MAX_EXTENSION_HEADERS:
            raise ArtifactRejected(
                "unsupported_member", f"more than {MAX_EXTENSION_HEADERS} extension headers in a row"
            )
        if typeflag == b"L":
            if size > limits.max_member_name_bytes + 1:  # + NUL terminator
                shown = _cstring(self._gz.read_exact(min(size, _NAME_DISPLAY_CHARS)))
                raise ArtifactRejected(
                    "name_too_long",
                    f"the GNU long name is {size - 1} bytes, more than {limits.max_member_name_bytes}",
                    _display(shown),
                )
            self._long_name = _cstring(self._read_extension(size, "GNU long name"))
        elif typeflag == b"K":
            # Only used in messages (link members are rejected): keep a bounded prefix.
            keep = min(size, limits.max_member_name_bytes + 1)
            head = self._gz.read_exact(keep)
            rest = size + (-size % _BLOCK) - keep
            if len(head) < keep or self._gz.skip(rest) < rest:
                raise _NotTar("GNU long link is truncated")
            self._long_link = _cstring(head)
        else:
            kind = "pax global header" if typeflag == b"g" else "pax extended header"
            if size > MAX_PAX_HEADER_BYTES:
                raise ArtifactRejected(
                    "unsupported_member", f"{kind} of {size} bytes exceeds {MAX_PAX_HEADER_BYTES} bytes"
                )
            records = _parse_pax(self._read_extension(size, kind))
            if typeflag == b"x":
                self._pax.update(records)
                return
            overrides = [key.decode() for key in _PAX_OVERRIDES if key in records]
            if overrides or _is_sparse_pax(records):
                raise ArtifactRejected(
                    "unsupported_member",
                    f"pax global header sets {overrides or 'GNU.sparse'} for all following members",
                )

    def _member(self, block: bytes, typeflag: bytes, size: int) -> None:
        limits, pax = self._limits, self._pax
        raw_name = _cstring(block[0:100])
        if block[257:263] == b"ustar\x00":  # POSIX ustar: name may be split into prefix + name
            prefix = _cstring(block[345:500])
            if prefix:
                raw_name = prefix + b"/" + raw_name
        if self._long_name is not None:
            raw_name = self._long_name
        raw_name = pax.get(b"path", raw_name)
        linkname = _cstring(block[157:257])
        if self._long_link is not None:
            linkname = self._long_link
        linkname = pax.get(b"linkpath", linkname)
        if b"size" in pax:
            size = _pax_size(pax[b"size"])

        display = _display(raw_name)
        key = _normalise_name(raw_name, limits)
        _check_type(typeflag, linkname, display, pax)
        is_dir = typeflag == b"5" or (typeflag == b"\0" and raw_name.endswith(b"/"))
        if not key and not is_dir:
            raise ArtifactRejected("not_tar", "a non-directory member has an empty name", display)

        self.member_count += 1
        if self.member_count > limits.max_members:
            raise ArtifactRejected("too_many_members", f"more than {limits.max_members} files and directories", display)
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
        if digest in self._seen:
            raise ArtifactRejected("duplicate_member", f"normalised name {key or '.'!r} appears twice", display)
        self._seen.add(digest)

        self._declared_total += size
        if self._declared_total > limits.max_uncompressed_bytes:
            raise ArtifactRejected(
                "uncompressed_too_large",
                f"declared member sizes total {self._declared_total} bytes, more than {limits.max_uncompressed_bytes}",
                display,
            )
        padded = size + (-size % _BLOCK)
        if self._gz.skip(padded) < padded:
            raise _NotTar(f"the data of member {display!r} is truncated")

        self._pax = {}
        self._long_name = self._long_link = None
        self._extensions = 0
