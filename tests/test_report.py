"""Table pages of the Snakemake report."""

from __future__ import annotations

from paczero.report import table_html


def test_table_html_rows_and_numbers(tmp_path):
    path = tmp_path / "table1.csv"
    path.write_text("task,method,mean,std,n,seeds\nsst2,pacmi,91.23456,0.5,2,0;1\nsst2,<zpl>,88.0,,1,0\n")
    page = table_html(path, "table1")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<tr>") == 3  # header and two rows
    assert "<td>91.23</td>" in page
    assert "<td>0.5</td>" in page
    assert '<td class="text">&lt;zpl&gt;</td>' in page  # escaped text, left aligned
    assert "<td></td>" in page  # the single seed's empty std
    assert "2 rows; source" in page
    assert str(path) in page
