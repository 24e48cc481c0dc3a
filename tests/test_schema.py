"""The bundled schema against the one enigma.js publishes."""

from __future__ import annotations

import json

from rxqix._protocol.naming import param_name, snake_case
from rxqix.schemas import ENGINE_SCHEMA_PATH, bundled_schema, load_schema


def test_bundled_schema_records_its_source(enigma_package):
    """The source package, version and file are recorded and match the installed one."""
    bundled = json.loads(ENGINE_SCHEMA_PATH.read_text())
    source = bundled["source"]
    package = json.loads((enigma_package / "package.json").read_text())
    assert source["package"] == "enigma.js"
    assert source["package_version"] == package["version"]
    assert (enigma_package / source["file"]).exists()
    assert bundled["engine_version"] == source["file"].split("/")[-1][: -len(".json")]


def test_bundled_schema_is_the_newest_published(enigma_package):
    """No schema in the package is newer than the bundled one."""
    versions = [
        tuple(int(p) for p in path.stem.split("."))
        for path in (enigma_package / "schemas").glob("*.json")
    ]
    bundled = tuple(int(p) for p in bundled_schema().engine_version.split("."))
    assert bundled == max(versions)


def test_every_bundled_method_matches_the_published_schema(enigma_package):
    """Name, params (names, order, defaults, optional flags) and outs all match."""
    schema = bundled_schema()
    published = json.loads(
        (enigma_package / "schemas" / f"{schema.engine_version}.json").read_text()
    )["structs"]
    assert set(schema.structs) == set(published)
    checked = 0
    for struct, methods in published.items():
        assert set(schema.structs[struct]) == set(methods), struct
        for name, spec in methods.items():
            method = schema.structs[struct][name]
            assert method.name == name
            assert [p.name for p in method.params] == [p["Name"] for p in spec["In"]]
            assert [p.default for p in method.params] == [
                p.get("DefaultValue") for p in spec["In"]
            ]
            assert [p.optional for p in method.params] == [
                bool(p.get("Optional")) for p in spec["In"]
            ]
            assert list(method.out) == [o["Name"] for o in spec["Out"]]
            checked += 1
    assert checked == sum(len(methods) for methods in published.values()) > 400


def test_python_names_are_snake_case_and_unique():
    """Methods and params get snake_case names, unique within their scope."""
    schema = bundled_schema()
    for struct, methods in schema.structs.items():
        names = [m.py_name for m in methods.values()]
        assert len(set(names)) == len(names), struct
        for method in methods.values():
            assert method.py_name == snake_case(method.name)
            assert [p.py_name for p in method.params] == [
                param_name(p.name) for p in method.params
            ]
    assert schema.method("Global", "GetUniqueID").py_name == "get_unique_id"
    assert schema.method("Global", "OSName").py_name == "os_name"
    assert schema.method("Global", "OpenDoc").params[0].py_name == "doc_name"


def test_any_enigma_schema_file_loads_as_given(enigma_package):
    """Old and new enigma.js schema files load and agree on shared methods."""
    for path in sorted((enigma_package / "schemas").glob("*.json")):
        loaded = load_schema(path)
        assert "Global" in loaded.structs, path.name
    old = load_schema(enigma_package / "schemas" / "12.20.0.json")
    assert old.method("Global", "OpenDoc").params[0].name == "qDocName"
