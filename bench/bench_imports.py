"""Cold import time of each handler module (``python -X importtime``), as Lambda's init phase does it.

Each handler is imported in a fresh interpreter with a complete environment (module-level settings parsing and
client creation included). Prints one JSON line per function and a summary against the 300 ms aim (a benchmark
reports; it does not gate CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIM_MS = 300.0
ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "MODELRELAY_ACCOUNT_ID": "123456789012",
    "INGEST_BUCKET": "ingest-bucket",
    "INGEST_PREFIX": "incoming/",
    "HUB_BUCKET": "hub-bucket",
    "HUB_MODEL_PACKAGE_GROUP": "modelrelay-hub",
    "STATE_TABLE": "state-table",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
    "EVENT_BUS_NAME": "default",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "MODELRELAY_ROUTES_FILE": str(REPO / "config" / "routes.json"),
}


def import_ms(function_dir: Path) -> float:
    env = dict(os.environ, **ENV, PYTHONPATH=f"{function_dir}:{REPO / 'src'}")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        env=env,
        cwd=function_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == "app":
            return int(parts[1]) / 1000
    raise RuntimeError(f"no import time line for app in {function_dir}")


def main() -> int:
    worst = 0.0
    for function_dir in sorted((REPO / "functions").iterdir()):
        import_ms(function_dir)  # warm the filesystem cache and .pyc files once, as a deployed package has them
        ms = min(import_ms(function_dir) for _ in range(3))
        worst = max(worst, ms)
        print(json.dumps({"function": function_dir.name, "cold_import_ms": round(ms, 1), "aim_ms": AIM_MS}))
    verdict = "within" if worst <= AIM_MS else f"ABOVE the aim by {worst - AIM_MS:.0f} ms:"
    print(f"slowest handler import {worst:.0f} ms, {verdict} {AIM_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
