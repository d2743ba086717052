"""Child process that reads an untrusted lead file (any workbook or CSV) under memory, CPU and output-size limits."""

# Run as a script (`python -B -E -s child.py`), never imported by the app: it uses only the standard library, the
# reader libraries (python-calamine, xlrd) and its sibling modules, imported by their bare names. The request
# comes as JSON on stdin; the answer is one JSON object on stdout; the rows go to the output file named in the
# request, in the form of rowtext (one line per row, rows separated by REC).

from __future__ import annotations

import gc
import json
import os
import resource
import sys
from typing import TYPE_CHECKING, Any

from refusal import Refusal

if TYPE_CHECKING:
    from rowsink import RowSink

# Each reader imports its modules when it runs: a process starts for every file, and a CSV needs no zipfile or
# calamine, an .xls no XML parser (importing everything costs the child a tenth of a second).


def set_limits(memory_mb: int, cpu_s: float, file_bytes: int) -> None:
    """Cap this process: address space, CPU seconds and the size of any file it writes."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, int(cpu_s) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def proc_status_kib(field: str) -> int:
    """A size from /proc/self/status in KiB (VmPeak: peak address space, VmHWM: peak resident), 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def near_memory_limit(memory_mb: int) -> bool:
    """Whether this process came close to its address-space cap (so a parser failure was most likely memory)."""
    return proc_status_kib("VmPeak") * 1024 >= 0.8 * memory_mb * 1024 * 1024


def read_text(request: dict[str, Any]) -> tuple[list[str], str | None, RowSink]:
    """A CSV or TSV file: encoding and delimiter from its content, one row per record."""
    import csv

    import textread
    from rowsink import RowSink

    with open(request["input"], "rb") as fh:
        data = fh.read()
    try:
        text = textread.decode(data)
    except textread.DamagedText:
        raise Refusal("utf16_damaged") from None
    del data
    sink = RowSink(request, None)
    sink.stop_early = True
    reader = textread.reader(text, request["file_name"])
    try:
        sink.add_rows(reader, 1)
    except csv.Error as exc:
        raise Refusal("csv_error", row=reader.line_num, detail=str(exc)) from None
    return [], None, sink


def read_zip_workbook(request: dict[str, Any]) -> tuple[list[str], str | None, RowSink]:
    """An .xlsx, .xlsb or .ods package, every part checked (by a verifier process, alongside calamine's reading),
    its error cells given back their text."""
    import zipparts

    kind, path = request["kind"], request["input"]
    verifier = zipparts.Verifier(path, request["max_unpacked"])
    try:
        names, name, sink = _read_package(request, kind, path, verifier)
    except BaseException:
        verifier.wait()  # a part that failed the check is the file's true reason, whatever calamine said
        raise
    verifier.wait()
    sink.extra_peak_mib = verifier.peak_mib()
    return names, name, sink


def _read_package(
    request: dict[str, Any], kind: str, path: str, verifier: Any
) -> tuple[list[str], str | None, RowSink]:
    import zipfile

    import bookread
    import zipparts

    package = zipparts.listing(path)
    package.verifier = verifier
    if kind == "ods":
        if "ods_error" in package.markers("content.xml"):
            import odsfix

            fixed = os.path.join(os.getcwd(), "fixed.ods")
            with zipfile.ZipFile(path) as zf:
                odsfix.rewrite(zf, package, fixed)
            path = fixed
        book: bookread.CalamineBook = bookread.CalamineBook(path)
    elif kind == "xlsb":
        import xlsbscan

        book = bookread.CalamineBook(path)
        with zipfile.ZipFile(path) as zf:
            for name in book.names:
                part = xlsbscan.sheet_part(zf, package, name)
                if part is not None:
                    book.errors[name] = xlsbscan.error_cells(zf, package, part)
    else:
        from xlsxbook import XlsxBook

        direct, block = request["sheet_blocks"]
        book = XlsxBook(path, package, os.getcwd(), int(direct), int(block))
    name, sink = bookread.read_chosen(book, request)
    if kind == "xlsx":
        sink.formulas_without_value = getattr(book, "formulas", {}).get(name, 0)
        sink.blocks = getattr(book, "blocks", {}).get(name, 0)
    return book.names, name, sink


def read_xls(request: dict[str, Any]) -> tuple[list[str], str | None, RowSink]:
    """An .xls: calamine's reading, unless it fails, holds NUL characters (text decoded in the wrong code page) or
    loses error cells, in which case xlrd's reading, when xlrd reads the file and its text is clean."""
    import bookread
    import xlsscan

    path = request["input"]
    first: tuple[list[str], str | None, RowSink] | None = None
    problem: Refusal | None = None
    try:
        book = bookread.CalamineBook(path)
        name, sink = bookread.read_chosen(book, request)
        first = (book.names, name, sink)
    except Refusal as refusal:
        if refusal.code == "password":
            raise
        problem = refusal
    if first is not None:
        names, _, sink = first
        if not (sink.has_nul() or any("\x00" in n for n in names) or xlsscan.has_error_cells(path)):
            return first
    try:
        other = bookread.XlrdBook(path)
        other_name, other_sink = bookread.read_chosen(other, request)
    except Refusal as refusal:
        if refusal.code == "password" or first is None:
            raise (refusal if problem is None or problem.code == "damaged" else problem) from None
        return first
    if first is not None and other_sink.has_nul() and not first[2].has_nul():
        return first
    return other.names, other_name, other_sink


def read(request: dict[str, Any]) -> dict[str, Any]:
    """Read the file the request names and write its rows; the facts the parent needs."""
    kind = request["kind"]
    if kind == "text":
        names, name, sink = read_text(request)
    elif kind == "xls":
        names, name, sink = read_xls(request)
    else:
        names, name, sink = read_zip_workbook(request)
    facts = sink.write(request["output"])
    return {
        "ok": True,
        "sheet_names": [n.replace("\x00", "") for n in names],
        "sheet_name": None if name is None else name.replace("\x00", ""),
        "formula_cells_without_value": sink.formulas_without_value,
        "blocks": sink.blocks,
        "peak_mib": proc_status_kib("VmHWM") / 1024 + sink.extra_peak_mib,
        **facts,
    }


def main() -> int:
    gc.disable()  # a short-lived process building ~10^6 objects: the collector would only rescan them
    request = json.loads(sys.stdin.read())
    set_limits(request["memory_mb"], request["cpu_s"], request["max_file"])
    try:
        answer = read(request)
    except Refusal as refusal:
        answer = {"ok": False, "code": refusal.code, **refusal.details}
    except MemoryError:
        answer = {"ok": False, "code": "memory"}
    except Exception as exc:  # noqa: BLE001 - the parsers raise many kinds on damaged files; the parent logs it
        code = "memory" if near_memory_limit(request["memory_mb"]) else "damaged"
        answer = {"ok": False, "code": code, "detail": f"{type(exc).__name__}: {exc}"[:500]}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os._exit(main())  # the answer is flushed: skip tearing down a heap of a million objects
