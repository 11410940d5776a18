"""Write the chart's `config` part from src/wattstream/config.py, the one declaration of each key.

    python charts/wattstream/gen_config.py          # rewrite values.schema.json and values.yaml
    python charts/wattstream/gen_config.py --check  # exit 1 when either is out of date

- values.schema.json: `properties.config.properties` is `wattstream.config.json_schema()` (types,
  bounds, choices, patterns, descriptions) without the keys config-not-exposed.yaml lists.
- values.yaml: the `# --` comment above each key of the `config:` block is that key's doc from
  config.py (a section's: its class docstring). Lines from a `# Chart:` line on are the chart's
  own note on the key (how the release derives or uses it) and are kept as written.

The defaults in values.yaml stay the chart's own (e.g. in-cluster service names).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import textwrap
import typing
from pathlib import Path

import yaml
from gen_values_doc import DOC_COMMENT, key_path  # beside this file

from wattstream import config as wconfig

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "values.schema.json"
VALUES = HERE / "values.yaml"
NOT_EXPOSED = HERE / "config-not-exposed.yaml"
WIDTH = 100
_COMMENT = re.compile(r"^ *#")
_CHART = re.compile(r"^ *# Chart:")


def not_exposed() -> list[str]:
    return list(yaml.safe_load(NOT_EXPOSED.read_text()) or {})


def render_schema(text: str) -> str:
    schema = json.loads(text)
    node = schema["properties"]["config"]
    node["properties"] = wconfig.json_schema(omit=not_exposed())["properties"]
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def doc_of(path: str) -> str | None:
    """config.py's description of a dotted key (`kafka.partitions`, or a section `kafka`)."""
    cls: type = wconfig.Config
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return None
        tp = typing.get_type_hints(cls)[part]
        if dataclasses.is_dataclass(tp):
            cls = tp
            if i == len(parts) - 1:
                return wconfig.section_doc(tp)
            continue
        return wconfig.sentence(fields[part].metadata["doc"]) if i == len(parts) - 1 else None
    return None


def render_values(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    stack: list[tuple[int, str]] = []
    for line in lines:
        path = key_path(stack, line)
        if path is None:
            out.append(line)
            continue
        indent = stack[-1][0]
        doc = doc_of(path.removeprefix("config.")) if path.startswith("config.") else None
        if doc:
            # The key's comment block: from the last `# --` line of the comments right above.
            start = len(out)
            while start > 0 and _COMMENT.match(out[start - 1]):
                start -= 1
            docs = [i for i in range(start, len(out)) if DOC_COMMENT.match(out[i])]
            block = out[docs[-1]:] if docs else []
            note = next((i for i, b in enumerate(block) if _CHART.match(b)), len(block))
            kept = block[note:]
            del out[len(out) - len(block):]
            pad = " " * indent
            out += textwrap.wrap(doc, WIDTH, initial_indent=pad + "# -- ",
                                 subsequent_indent=pad + "# ", break_on_hyphens=False,
                                 break_long_words=False)
            out += kept
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, render in ((SCHEMA, render_schema), (VALUES, render_values)):
        text = path.read_text()
        new = render(text)
        if new == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(new)
            print(f"wrote {path}")
    if stale:
        print(f"{', '.join(stale)} out of date with src/wattstream/config.py: run "
              "`make chart-docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
