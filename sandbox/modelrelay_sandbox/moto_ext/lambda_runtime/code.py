"""The function's deployment package and layers, unpacked where the handler imports from.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/python-package.html (the .zip deployment
package is the task root, ``LAMBDA_TASK_ROOT``) and
https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html (a layer's ``python/`` and
``python/lib/python3.x/site-packages`` are on the path, later layers first). Zips are extracted once
into a cache keyed by their SHA-256 (``<repo>/.sandbox/lambda-code/<sha256>/``); compiled wheels come
from the host interpreter's own path (a built layer may carry arm64 wheels).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from moto.awslambda.exceptions import LambdaClientError

from .config import CONFIG


def extract_zip(data: bytes, digest: str) -> Path:
    """Extract a zip once into ``<code_cache_dir>/<sha256>``; concurrent callers are safe."""
    root = CONFIG.code_cache_dir
    target = root / digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{digest[:12]}-"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(tmp)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # Lambda's own error for a package it cannot unzip.
        error = LambdaClientError("InvalidZipFileException", f"Lambda was unable to unzip the file: {exc}")
        error.code = 502
        raise error from exc
    try:
        os.rename(tmp, target)
    except OSError:
        # Another thread extracted the same zip first.
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def layer_paths(layer_dir: Path) -> list[Path]:
    python_dir = layer_dir / "python"
    site_dirs = sorted(python_dir.glob("lib/python3*/site-packages"))
    return [*site_dirs, python_dir]


_host_path_lock = threading.Lock()
_host_path: list[str] | None = None


def host_sys_path() -> list[str]:
    """The host interpreter's own sys.path (stdlib + venv site-packages), without
    this process's PYTHONPATH/cwd additions and without source trees that ``.pth``
    files add (an editable install of the product): both would leak repo sources
    past the deployed code and layers, which Lambda never sees."""
    global _host_path
    with _host_path_lock:
        if _host_path is None:
            out = subprocess.run(
                [
                    sys.executable,
                    "-I",
                    "-c",
                    "import json, sys; print(json.dumps([sys.path, sys.prefix, sys.base_prefix]))",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            paths, prefix, base_prefix = json.loads(out)
            roots = tuple(os.path.join(os.path.realpath(r), "") for r in (prefix, base_prefix))
            _host_path = [
                p for p in paths if p and os.path.exists(p) and os.path.join(os.path.realpath(p), "").startswith(roots)
            ]
        return list(_host_path)


def empty_code_dir() -> Path:
    path = CONFIG.code_cache_dir / "empty"
    path.mkdir(parents=True, exist_ok=True)
    return path
