"""The environment variables a handler sees.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime:
the function's ``Environment.Variables``, then Lambda's reserved variables (which the function's cannot
override), execution-role credentials and ``AWS_ENDPOINT_URL`` of the sandbox. ``POWERTOOLS_TRACE_DISABLED``
and ``AWS_XRAY_SDK_ENABLED=false`` are set unless the function sets them: there is no X-Ray daemon.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .code import host_sys_path, layer_paths
from .config import CONFIG
from .credentials import role_credentials
from .spec import FunctionSpec


def worker_env(spec: FunctionSpec, code_dir: Path, layer_dirs: list[Path], log_stream: str) -> dict[str, str]:
    """The worker's whole environment: the function's variables, then what Lambda sets
    (Lambda's reserved variables cannot be overridden by the function's)."""
    creds = role_credentials(spec.account, spec.region, spec.role, spec.name)
    python_path = [str(code_dir), *host_sys_path()]
    for layer_dir in reversed(layer_dirs):  # later layers overwrite earlier ones in /opt
        python_path += [str(p) for p in layer_paths(layer_dir)]
    home = CONFIG.home_dir
    home.mkdir(parents=True, exist_ok=True)
    runtime = spec.runtime if spec.runtime.startswith("python") else "python3.12"
    env = dict(spec.env)
    env.update(
        {
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_ENDPOINT_URL": CONFIG.endpoint_url,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "TZ": ":UTC",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            # An empty HOME: the host's ~/.aws config must not reach the handler.
            "HOME": str(home),
            "PYTHONPATH": os.pathsep.join(python_path),
            **creds,
        }
    )
    # No X-Ray daemon here: make powertools' Tracer (and the X-Ray SDK) no-ops.
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    env.setdefault("AWS_XRAY_SDK_ENABLED", "false")
    return env
