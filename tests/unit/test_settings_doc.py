"""Every key of okr.toml is documented: docs/settings.md is generated from the settings model
(scripts/settings_doc.py) and must say what the model says."""

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

from okr.settings import ENV, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "settings.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" /
                                                  "settings_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_settings_md_is_generated_from_the_model() -> None:
    assert DOC.read_text(encoding="utf-8") == generator().render(), \
        "docs/settings.md is out of date: run 'make docs'"


def test_every_key_and_variable_is_in_the_doc_once() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| (?:`(\w+)`|-) \|", text, re.M)
    assert [key for key, _ in rows] == list(Settings.model_fields)
    assert {var: key for key, var in rows if var} == ENV
    assert all(info.description for info in Settings.model_fields.values())


def test_the_docs_example_okr_toml_is_valid(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert example is not None
    (tmp_path / "okr.toml").write_text(example.group(1), encoding="utf-8")
    settings = load_settings({"home": tmp_path}, environ={})
    assert {k: getattr(settings, k) for k in tomllib.loads(example.group(1))} == \
        tomllib.loads(example.group(1))
