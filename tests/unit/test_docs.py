"""The docs a newcomer reads first say true things (issue 12): no dead file references, the
``.venv`` to activate, and one name for the first tenant, the one the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from artifact_hub.core.settings import HubSettings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A file name ending in .md, as a link target or in the text (``see reference.md section 2``).
MD_REFERENCE = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_md_file_a_doc_names_exists(doc: Path) -> None:
    missing = []
    for name in MD_REFERENCE.findall(doc.read_text()):
        candidates = (doc.parent / name, ROOT / name, ROOT / "docs" / name)
        if not any(path.is_file() for path in candidates):
            missing.append(name)
    assert missing == [], f"{doc.name} names files that do not exist: {missing}"


def test_the_readme_says_to_activate_the_venv() -> None:
    assert "source .venv/bin/activate" in (ROOT / "README.md").read_text()


def test_the_docs_name_the_first_tenant_as_the_code_does() -> None:
    first = HubSettings.model_fields["bootstrap_tenant"].default
    said = {
        (doc.name, match)
        for doc in DOCS
        for match in re.findall(r"creates\s+tenant\s+`([^`]+)`", doc.read_text())
    }
    assert said, "no doc says which tenant serve creates"
    assert {name for _, name in said} == {first}, said
