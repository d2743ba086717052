"""Memory is bounded for every input: CSV is read inside the reader child's memory cap too, a big sheet is read in
blocks under a cap it would exceed whole, the caller keeps about one byte a character, and the child writes no
bytecode into the source tree."""

from __future__ import annotations

import logging
import shutil
import tracemalloc
from pathlib import Path

import pytest

from core.errors import LimitReached
from core.leadfile import Limits, parse_file, prepare_import, reader_process
from tests.leadfile import formats


class RoomyText(Limits):
    """A memory budget whose cell-text limit is out of the way, so that only the child's cap decides."""

    @property
    def max_text_bytes(self) -> int:
        return 1 << 30


def _wide_csv(rows: int, columns: int = 199) -> bytes:
    header = ["First Name", "Company", "LinkedIn", *[f"c{i}" for i in range(columns - 3)]]
    lines = [",".join(header)]
    for i in range(rows):
        lines.append(
            ",".join(
                [f"N{i}", f"Co {i % 50}", f"linkedin.com/in/p-{i}", *[f"{(i + c) % 97}" for c in range(columns - 3)]]
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def _reader_peaks(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(r.args[-1]) for r in caplog.records if "reader peak" in r.msg]  # type: ignore[index]


def test_csv_is_read_under_the_childs_memory_cap(caplog: pytest.LogCaptureFixture) -> None:
    """An 8 MB CSV of 199 short columns (1.6 million cells): refused under a 40 MiB reader cap, read under a
    160 MiB one, and the reader's measured peak stays under its cap."""
    data = _wide_csv(14_000)
    assert 7 * 2**20 < len(data) < 9 * 2**20
    with pytest.raises(LimitReached, match="memory"):
        parse_file(data, "wide.csv", RoomyText(parse_memory_mb=64))  # 64 * 5/8 = 40 MiB for the reader
    limits = RoomyText(parse_memory_mb=256)
    with caplog.at_level(logging.DEBUG, logger="core.leadfile.reader_process"):
        parsed = parse_file(data, "wide.csv", limits)
    assert len(parsed.rows) == 14_000 and len(parsed.columns) == 199
    assert parsed.rows[13_999][:3] == ["N13999", "Co 49", "linkedin.com/in/p-13999"]
    assert 0 < _reader_peaks(caplog)[0] < limits.reader_memory_mb


def test_big_sheet_in_blocks_fits_a_cap_it_exceeds_whole(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """calamine holds a sheet read whole at about 75 bytes a cell: 40,000 x 20 cells do not fit 96 MiB, while
    blocks of 2 MB of XML do, with the same rows."""
    rows = [["First Name", "Company", "LinkedIn", *[f"Field {c}" for c in range(17)]]]
    rows += [
        [f"Name {i}", f"Co {i % 100}", f"https://www.linkedin.com/in/p-{i}", *[f"v{(i * c) % 9973}" for c in range(17)]]
        for i in range(40_000)
    ]
    data = formats.xlsx_fast(rows)
    limits = RoomyText(parse_memory_mb=154)  # 96 MiB for the reader
    monkeypatch.setattr(reader_process, "SHEET_BLOCKS", (1 << 30, 1 << 30))  # always whole
    with pytest.raises(LimitReached, match="memory"):
        parse_file(data, "big.xlsx", limits)
    monkeypatch.setattr(reader_process, "SHEET_BLOCKS", (4 << 20, 2 << 20))
    with caplog.at_level(logging.DEBUG, logger="core.leadfile.reader_process"):
        parsed = parse_file(data, "big.xlsx", limits)
    assert len(parsed.rows) == 40_000 and parsed.rows[39_999][:3] == [
        "Name 39999",
        "Co 99",
        "https://www.linkedin.com/in/p-39999",
    ]
    assert parsed.rows[1234][10] == f"v{(1234 * 7) % 9973}"
    assert 0 < _reader_peaks(caplog)[0] < limits.reader_memory_mb


def test_the_caller_keeps_about_a_byte_a_character() -> None:
    """The caller's own allocations while parsing and validating a wide CSV stay within five times its size: one
    string per row, not one per cell (the earlier reader built 17 million cell strings for a 52 MB CSV)."""
    data = _wide_csv(6_000)
    tracemalloc.start()
    try:
        preview = prepare_import(data, "wide.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert preview.counts["good"] == 6_000
    assert peak < 5 * len(data), f"{peak / 2**20:.1f} MiB for a {len(data) / 2**20:.1f} MiB file"  # 19x before


def test_reader_child_writes_no_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child imports its sibling modules; none leaves a __pycache__ beside them (here a copy of them)."""
    copy = tmp_path / "leadfile"
    shutil.copytree(Path(reader_process.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(reader_process, "CHILD", copy / "child.py")
    data = formats.xlsx_cells({"A1": "LinkedIn", "A2": "https://www.linkedin.com/in/jane"})
    assert parse_file(data, "a.xlsx").rows == [["https://www.linkedin.com/in/jane"]]
    assert parse_file(b"LinkedIn\r\nlinkedin.com/in/jane\r\n", "a.csv").rows == [["linkedin.com/in/jane"]]
    assert not list(copy.rglob("__pycache__")) and not list(copy.rglob("*.pyc"))
