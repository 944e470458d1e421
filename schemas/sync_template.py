"""Write each ``schemas/*.json`` into ``template.yaml``'s matching ``AWS::EventSchemas::Schema`` ``Content``.

The JSON files are the source; the template embeds their compact form (a test checks both agree).
Usage: ``python schemas/sync_template.py [--check]``
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def synced(template: str) -> str:
    for path in sorted((REPO / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        name = "modelrelay@" + schema["x-amazon-events-detail-type"].replace(" ", "")
        compact = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        pattern = re.compile(rf"(SchemaName: {re.escape(name)}\n(?:      .*\n)*?      Content: \|\n        )(.*)\n")
        template, found = pattern.subn(lambda m, c=compact: m.group(1) + c + "\n", template, count=1)
        if not found:
            raise SystemExit(f"template.yaml has no schema {name} for {path.name}")
    return template


def main(argv: list[str]) -> int:
    path = REPO / "template.yaml"
    current = path.read_text()
    wanted = synced(current)
    if argv == ["--check"]:
        if wanted != current:
            print("template.yaml's event schemas differ from schemas/*.json: run python schemas/sync_template.py")
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
