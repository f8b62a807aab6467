"""The templates parse under a real Bicep grammar (pycep-parser, the parser checkov uses), and its syntax tree agrees
with tests/deploy/bicep_text.py on the app settings.

This is a syntax check, not the Bicep compiler: types, resource API versions and property names are not verified
here (run ``az bicep build --file infra/main.bicep`` for that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from tests.deploy.bicep_text import app_setting_names

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEMPLATES = sorted(INFRA.rglob("*.bicep"))


@pytest.fixture(scope="module")
def parser() -> BicepParser:
    return BicepParser()


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(INFRA)))
def test_template_parses_under_the_bicep_grammar(parser: BicepParser, template: Path) -> None:
    tree = parser.parse(text=template.read_text(encoding="utf-8"))
    assert tree["resources"] or tree["modules"]


def test_a_syntax_error_is_caught(parser: BicepParser) -> None:
    broken = (INFRA / "app" / "storage.bicep").read_text(encoding="utf-8").replace("properties: {", "properties: {{", 1)
    with pytest.raises(Exception):  # noqa: B017 (lark raises its own UnexpectedInput family)
        parser.parse(text=broken)


def _names(value: Any) -> list[str]:
    """Setting names in a pycep value: an array of {name, value}, or a conditional whose branches are."""
    if isinstance(value, list):
        return [entry["name"] for entry in value]
    operands = value["operator"]["operands"]
    return _names(operands["true_value"]) + _names(operands["false_value"])


def test_syntax_tree_and_text_reader_agree_on_the_app_settings(parser: BicepParser) -> None:
    source = (INFRA / "app" / "function.bicep").read_text(encoding="utf-8")
    tree = parser.parse(text=source)
    app_settings = tree["resources"]["functionApp"]["config"]["properties"]["siteConfig"]["appSettings"]
    assert app_settings["function"]["type"] == "concat"
    names: list[str] = []
    for variable in app_settings["function"]["parameters"].values():
        names.extend(_names(tree["variables"][variable]["value"]))
    assert names == app_setting_names(source)
