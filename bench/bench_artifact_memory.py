"""Memory/throughput benchmark for the streaming artifact validator.

Generates a valid ``model.tar.gz`` on the fly (one member of pseudo-random,
incompressible bytes, gzip level 1; only one block exists at a time) and
validates it as a stream, then prints JSON:

* ``size_bytes`` - compressed object size; ``uncompressed_bytes``;
* ``seconds`` - wall time of generation + validation (they run interleaved);
  ``generator_seconds`` - time spent inside the generator (PRNG + gzip);
  ``validator_seconds`` = ``seconds - generator_seconds``;
* ``throughput_mib_s`` - end-to-end; ``validator_throughput_mib_s`` - validator only;
* ``peak_rss_mib`` - peak RSS of this process (``ru_maxrss``), which INCLUDES the
  generator and the interpreter; ``baseline_rss_mib`` - peak RSS before validating.

Exits 1 if ``peak_rss_mib`` >= ``--max-rss-mib`` (default 128).

    .venv/bin/python bench/bench_artifact_memory.py [--size-mib 1024] [--chunk-kib 1024]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT / "src"), str(_ROOT / "sandbox")]

from modelrelay.artifact import ArtifactLimits, validate_artifact  # noqa: E402
from modelrelay_sandbox.artifact_factory import IteratorReader, iter_streamed_artifact  # noqa: E402

MiB = 1024 * 1024


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MiB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


class _TimedChunks:
    """Wraps the generator and accumulates the time spent producing chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.seconds = 0.0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        start = time.perf_counter()
        try:
            return next(self._chunks)
        finally:
            self.seconds += time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="member size in MiB (default 1024)")
    parser.add_argument("--chunk-kib", type=int, default=1024, help="validator chunk size in KiB (default 1024)")
    parser.add_argument("--max-rss-mib", type=float, default=128.0, help="fail at or above this peak RSS")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    baseline = _peak_rss_mib()
    chunks = _TimedChunks(iter_streamed_artifact(args.size_mib * MiB, seed=args.seed, level=1))
    reader = IteratorReader(chunks)
    start = time.perf_counter()
    report = validate_artifact(reader, ArtifactLimits(), chunk_size=args.chunk_kib * 1024)
    seconds = time.perf_counter() - start
    peak = _peak_rss_mib()

    validator_seconds = max(seconds - chunks.seconds, 1e-9)
    result = {
        "size_bytes": report.size,
        "uncompressed_bytes": report.uncompressed_bytes,
        "member_count": report.member_count,
        "sha256": report.sha256,
        "chunk_bytes": args.chunk_kib * 1024,
        "seconds": round(seconds, 3),
        "generator_seconds": round(chunks.seconds, 3),
        "validator_seconds": round(validator_seconds, 3),
        "throughput_mib_s": round(report.size / MiB / seconds, 1),
        "validator_throughput_mib_s": round(report.size / MiB / validator_seconds, 1),
        "baseline_rss_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "peak_rss_includes_generator": True,
        "max_rss_mib": args.max_rss_mib,
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=2))
    if peak >= args.max_rss_mib:
        print(f"FAIL: peak RSS {peak:.1f} MiB >= {args.max_rss_mib} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
