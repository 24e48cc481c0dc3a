"""Generate rxqix's bundled engine schema from an enigma.js schema file.

The enigma.js npm package (MIT licence) publishes the QIX engine's API as JSON
schema files. They state facts of the engine's API: struct names, method names,
parameter names, defaults and out-parameter names. This script turns one of them
into rxqix's own form, adding the Python names, and records where it came from.

Usage::

    npm install --prefix build/schema enigma.js@2.15.0
    python scripts/generate_schema.py build/schema/node_modules/enigma.js

The newest schema in the package is picked unless ``--schema`` names one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rxqix._protocol.naming import param_name, snake_case  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "rxqix" / "schemas" / "engine.json"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.stem.split("."))


def convert(source: dict, package_version: str, schema_version: str) -> dict:
    """Return the rxqix form of an enigma.js schema."""
    structs: dict[str, dict[str, dict]] = {}
    for struct, methods in source["structs"].items():
        converted: dict[str, dict] = {}
        for method, spec in methods.items():
            converted[method] = {
                "py": snake_case(method),
                "in": [
                    {
                        "name": param["Name"],
                        "py": param_name(param["Name"]),
                        "default": param.get("DefaultValue"),
                        "optional": bool(param.get("Optional", False)),
                    }
                    for param in spec.get("In", [])
                ],
                "out": [out["Name"] for out in spec.get("Out", [])],
            }
        structs[struct] = converted
    return {
        "format": "rxqix-schema/1",
        "engine_version": schema_version,
        "source": {
            "package": "enigma.js",
            "package_version": package_version,
            "file": f"schemas/{schema_version}.json",
            "license": "MIT",
        },
        "structs": structs,
        "enums": source.get("enums", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the enigma.js package folder")
    parser.add_argument("--schema", help="schema version, e.g. 12.2027.0")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    package = json.loads((args.package / "package.json").read_text())
    schemas = sorted((args.package / "schemas").glob("*.json"), key=_version_key)
    chosen = (
        args.package / "schemas" / f"{args.schema}.json" if args.schema else schemas[-1]
    )
    source = json.loads(chosen.read_text())
    result = convert(source, package["version"], chosen.stem)
    args.output.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.output.name} from enigma.js {package['version']} {chosen.name}")


if __name__ == "__main__":
    main()
