"""The docs list what the code defines and point at what a clone has: the stored window columns
and the alert fields in `job/README.md` are the code's, in its order; every relative link
resolves to a file git keeps; the README stays a map of every package."""

from __future__ import annotations

import re
from pathlib import Path

from wattstream.job.alerts import ALERT_COLUMNS
from wattstream.job.engine import CLOSED_COLUMNS

README = Path(__file__).resolve().parents[1] / "src" / "wattstream" / "job" / "README.md"


def listed(heading: str) -> list[str]:
    """The backticked names that open each bullet of the list after the paragraph starting
    with `heading` (`- `a`, `b`: text` lists a and b)."""
    text = README.read_text()
    start = text.index(heading)
    block = text[start:].split("\n\n", 2)[1]
    names = []
    for line in block.splitlines():
        if line.startswith("- "):
            head = line[2:].split(":", 1)[0].split(" (", 1)[0]
            names += re.findall(r"`([a-z0-9_]+)`", head)
    return names


def test_the_window_columns_listed_are_the_stored_ones():
    assert listed("Columns of a stored window") == [*CLOSED_COLUMNS, "date"]


def test_the_alert_fields_listed_are_the_alerts_ones():
    assert listed("Fields of an alert") == list(ALERT_COLUMNS)


ROOT = Path(__file__).resolve().parents[1]
MAP_LINES = 250  # the README is a map; deeper topics live in docs/ and the packages' READMEs


def _docs() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *sorted((ROOT / "src" / "wattstream").glob("*/README.md")),
            ROOT / "charts" / "wattstream" / "README.md"]


def _ignored(paths: list[Path]) -> set[Path]:
    """The paths git ignores (a clone would not have them)."""
    import subprocess

    out = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "--stdin"],
                         input="\n".join(str(p) for p in paths), capture_output=True,
                         text=True).stdout
    return {Path(line) for line in out.splitlines()}


def test_every_link_in_the_docs_is_to_a_file_a_clone_has():
    """Relative links and images resolve to files that exist and that git does not ignore (an
    image in bench/results would be broken in every clone)."""
    targets = {}
    for doc in _docs():
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+://|mailto:", link):
                continue
            targets.setdefault((doc.parent / link).resolve(), []).append(doc.name)
    missing = {str(t): docs for t, docs in targets.items() if not t.exists()}
    assert not missing
    ignored = _ignored(list(targets))
    assert not {str(t): targets[t] for t in ignored}


def test_the_readme_is_a_map():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= MAP_LINES
    # Each package of src/wattstream has its line in the code map.
    packages = sorted(p.name for p in (ROOT / "src" / "wattstream").iterdir()
                      if (p / "__init__.py").exists())
    assert [p for p in packages if f"| `{p}/` |" not in text] == []
