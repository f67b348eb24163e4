from __future__ import annotations

from pathlib import Path

from rolloutlab.journal import Journal, read_journal


def test_journal_appends_and_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.write("a", x=1)
    journal.write("b", y=[1, 2])
    journal.close()
    with open(path, "a") as handle:
        handle.write('{"seq": 3, "event": "c"')  # a crash mid-write
    records = read_journal(path)
    assert [(r["seq"], r["event"]) for r in records] == [(1, "a"), (2, "b")]
    again = Journal(path)  # appending never rewrites what is there
    again.write("d")
    again.close()
    assert path.read_text().startswith('{"seq": 1')
