"""The published event schemas: valid Draft 4, one per emitted detail-type, and the README catalogue agrees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = {json.loads(p.read_text())["x-amazon-events-detail-type"]: p for p in sorted(REPO.glob("schemas/*.json"))}


def load(detail_type: str) -> dict:
    return json.loads(SCHEMAS[detail_type].read_text())


def detail_properties(schema: dict) -> set[str]:
    ((_, definition),) = schema["definitions"].items()
    return set(definition["properties"])


def readme_catalogue() -> dict[str, set[str]]:
    """The "Emitted" table of the README: detail-type -> the fields it names."""
    text = (REPO / "README.md").read_text()
    section = text.split("Emitted on `EventBusName`", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = set(re.findall(r"`([a-z0-9_]+)`", cells[1]))
    return rows


@pytest.mark.parametrize("detail_type", sorted(SCHEMAS))
def test_each_schema_is_valid_draft4_for_its_detail_type(detail_type: str) -> None:
    # Given the schema file of one ModelRelay event
    schema = load(detail_type)
    # Then it is a valid JSON Schema draft 4 naming its source and detail-type, as EventBridge's registry expects
    jsonschema.Draft4Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["x-amazon-events-source"] == "modelrelay"
    assert schema["properties"]["detail-type"]["enum"] == [detail_type]


def test_the_readme_catalogue_names_every_schema_and_exactly_its_fields() -> None:
    # Given the README's event catalogue and the schemas
    catalogue = readme_catalogue()
    # Then both list the same detail-types, and each row names exactly the detail fields of its schema
    assert set(catalogue) == set(SCHEMAS)
    for detail_type, fields in catalogue.items():
        assert fields == detail_properties(load(detail_type)), detail_type


def test_the_template_publishes_every_schema_unchanged() -> None:
    # Given the template's EventSchemas::Schema resources (Content is the compact JSON of schemas/*.json)
    template = (REPO / "template.yaml").read_text()
    published = {}
    for match in re.finditer(r"SchemaName: modelrelay@(\w+)\n.*?Content: \|\n\s+(\{.*?)\n", template, re.S):
        published[match.group(1)] = json.loads(match.group(2))
    # Then there is one per schema file, with the same content and type JSONSchemaDraft4
    assert {name: load(dt) for dt in SCHEMAS for name in [dt.replace(" ", "")]} == published
    assert template.count("Type: JSONSchemaDraft4") == len(SCHEMAS)
