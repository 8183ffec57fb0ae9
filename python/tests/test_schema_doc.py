"""docs/schema.md (the canonical tables and which report reads which column) is
generated from data/ and the reports' plans; it must match them."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_schema_doc_is_fresh():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "schema_doc.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
