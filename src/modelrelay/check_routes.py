"""``python -m modelrelay.check_routes FILE``: validate a routing configuration; exit 1 naming the bad field."""

from __future__ import annotations

import sys

from modelrelay.config import load_routing_config
from modelrelay.errors import ConfigError


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m modelrelay.check_routes ROUTES_FILE", file=sys.stderr)
        return 2
    try:
        config = load_routing_config(argv[0])
    except ConfigError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(f"{argv[0]}: {len(config.routes)} route(s) OK: " + ", ".join(r.name for r in config.routes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
