"""Every bundled report (`sql/*.sql` over `data/`) gives the same numbers in
a Python `datafusion` session as with the `saasql` command."""

from __future__ import annotations

import pytest
from conftest import SQL, assert_same_results, cli_results, context, python_results

REPORTS = sorted(SQL.glob("*.sql"))


def test_every_report_is_here():
    # The list is read from the folder; this guards against an empty glob.
    assert len(REPORTS) >= 12


@pytest.mark.parametrize("report", REPORTS, ids=lambda p: p.stem)
def test_report_matches_the_cli(report, cli):
    shown = cli_results(cli, "run", str(report))
    computed = python_results(context(), report.read_text())
    cells = assert_same_results(shown, computed)
    assert cells > 0
    print(f"{report.name}: {cells} cells equal")
