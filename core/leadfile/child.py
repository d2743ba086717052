"""Child process that reads an untrusted workbook with python-calamine under memory, CPU and output limits."""

# Run as a script (`python -E -s child.py`), never imported by the app: it uses only the standard library,
# python-calamine and the sibling `headers` module. The request comes as JSON on stdin; the answer is one JSON
# object on stdout; the rows go to the output file named in the request, as one text of cells joined by \x1f
# (prefix "S") or as JSON (prefix "J") when a cell itself holds that character.

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import os
import resource
import struct
import sys
import zipfile
import zlib
from typing import Any

from headers import header_score, looks_like_profile_url

SEP = "\x1f"
CHUNK = 1 << 20


class Refusal(Exception):
    """A reason to stop reading, sent to the parent as a code and details."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


def set_limits(memory_mb: int, cpu_s: float, output_bytes: int) -> None:
    """Cap this process: address space, CPU seconds and the size of any file it writes."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, int(cpu_s) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output_bytes, output_bytes))
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


def verify_zip(path: str, max_total: int) -> None:
    """Inflate every part once with bounded output: each must end where its declared size and CRC say it does,
    and all together must stay under `max_total` bytes (a lying or bombing zip stops here, not in the parser)."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
        total = 0
        for info in infos:
            total += _inflate_checked(data, info, max_total - total)
    except Refusal:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, struct and zlib raise many kinds on damaged data
        raise Refusal("damaged", detail=f"{type(exc).__name__}: {exc}") from None


def _inflate_checked(data: bytes, info: zipfile.ZipInfo, budget: int) -> int:
    """Size of one part, inflated chunk by chunk and never past its declared size or the budget."""
    at = info.header_offset
    if data[at : at + 4] != b"PK\x03\x04":
        raise Refusal("damaged", detail=f"no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + name_len + extra_len
    packed = memoryview(data)[start : start + info.compress_size]
    if len(packed) != info.compress_size:
        raise Refusal("damaged", detail=f"{info.filename} is cut off")
    limit = min(info.file_size, budget)
    if info.compress_type == zipfile.ZIP_STORED:
        produced, crc = len(packed), zlib.crc32(packed)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        produced, crc, pos = 0, 0, 0
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or packed[pos : pos + CHUNK]
            if not inflater.unconsumed_tail:
                if not chunk:
                    break
                pos += CHUNK
            out = inflater.decompress(chunk, CHUNK)
            produced += len(out)
            if produced > limit:
                break
            crc = zlib.crc32(out, crc)
        if not inflater.eof and produced <= limit:
            raise Refusal("damaged", detail=f"{info.filename} ends early")
    else:
        raise Refusal("damaged", detail=f"{info.filename} uses compression {info.compress_type}")
    if produced > budget:
        raise Refusal("unpacked_too_big")
    if produced != info.file_size or crc != info.CRC:
        raise Refusal("damaged", detail=f"{info.filename} is not the size or checksum it declares")
    return produced


def cell_text(value: Any) -> str:
    """A cell as text the way an analyst reads it: integers without '.0', dates in ISO form."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        if value.is_integer():
            return str(int(value))
        return format(value, ".15g")
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is dt.datetime:
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if kind is dt.date:
        return value.isoformat()
    if kind is dt.time:
        return value.isoformat(timespec="seconds")
    if kind is dt.timedelta:
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        hours, rest = divmod(abs(seconds), 3600)
        return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return "" if value is None else str(value)


def is_blank(joined: str) -> bool:
    """A row of cells joined by the separator is blank when it is all white space (the separator counts as such)."""
    return not joined or joined.isspace()


def text_rows(raw: list[list[Any]]) -> tuple[list[str], list[list[int]]]:
    """Each non-blank row's cells joined by the separator, and the row numbers as [first, count] runs."""
    out: list[str] = []
    runs: list[list[int]] = []
    join = SEP.join
    for index, row in enumerate(raw, start=1):
        try:  # most rows hold only text, which joins in one C call
            joined = join(row)
        except TypeError:
            joined = join([v if type(v) is str else cell_text(v) for v in row])
        if not joined or joined.isspace():
            continue
        out.append(joined)
        if runs and runs[-1][0] + runs[-1][1] == index:
            runs[-1][1] += 1
        else:
            runs.append([index, 1])
    return out, runs


def has_header(head: list[list[Any]]) -> bool:
    """Whether the first rows of a sheet look like a lead table."""
    for row in head:
        cells = [v if type(v) is str else cell_text(v) for v in row]
        if header_score(cells) > 0 or any(looks_like_profile_url(c) for c in cells):
            return True
    return False


def choose_sheet(workbook: Any, request: dict[str, Any]) -> tuple[list[str], str, Any]:
    """The worksheet names, the one chosen (asked for, else the first with a lead header) and its data."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    meta = [m for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    names = [m.name for m in meta]
    if not names:
        raise Refusal("no_worksheet")
    wanted = request.get("sheet")
    if wanted is not None:
        if wanted not in names:
            raise Refusal("no_such_sheet", sheet=wanted, sheets=names)
        return names, wanted, workbook.get_sheet_by_name(wanted)
    skip = set(request.get("skip", []))
    visible = [m.name for m in meta if m.visible == SheetVisibleEnum.Visible and m.name not in skip]
    candidates = visible or [n for n in names if n not in skip]
    if not candidates:
        raise Refusal("all_skipped")
    fallback: tuple[str, Any] | None = None
    for name in candidates:
        sheet = workbook.get_sheet_by_name(name)
        if sheet.height == 0:
            continue
        if has_header(sheet.to_python(skip_empty_area=True, nrows=request["head_rows"])):
            return names, name, sheet
        if fallback is None:
            fallback = (name, sheet)
    name, sheet = fallback or (candidates[0], workbook.get_sheet_by_name(candidates[0]))
    return names, name, sheet


def read(request: dict[str, Any]) -> dict[str, Any]:
    """Open the workbook, choose the sheet, check its size and write its rows to the output file."""
    import python_calamine

    if request["kind"] == "xlsx":
        verify_zip(request["input"], request["max_unpacked"])
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(request["input"])
        names, name, sheet = choose_sheet(workbook, request)
        height, width = sheet.height, sheet.width
        if width > request["max_columns"]:
            raise Refusal("too_many_columns", sheet=name, columns=width)
        if height > request["max_rows"] + request["head_rows"]:
            raise Refusal("too_many_rows", sheet=name, rows=height)
        raw = sheet.to_python(skip_empty_area=False)
    except python_calamine.PasswordError:
        raise Refusal("password") from None
    except (Refusal, MemoryError):
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        if "password" in str(exc).lower() or "encrypt" in str(exc).lower():
            raise Refusal("password") from None
        if near_memory_limit(request["memory_mb"]):  # an allocation failed inside the parser
            raise Refusal("memory") from None
        raise Refusal("damaged", detail=f"{type(exc).__name__}: {exc}") from None
    del sheet, workbook  # the cells live on as Python objects only
    width = len(raw[0]) if raw else 0
    lines, runs = text_rows(raw)
    payload = SEP.join(lines)
    clean = payload.count(SEP) == len(lines) * width - 1 or not lines
    del lines
    with open(request["output"], "wb") as fh:
        if clean:
            del raw
            fh.write(b"S")
            fh.write(payload.encode("utf-8", "surrogatepass"))
        else:  # a cell holds the separator character: fall back to JSON
            del payload
            rows = [[cell_text(v) for v in row] for row in raw]
            kept = [r for r in rows if not is_blank(SEP.join(r))]
            fh.write(b"J")
            fh.write(json.dumps(kept).encode("utf-8", "surrogatepass"))
    peak_mib = proc_status_kib("VmHWM") / 1024
    return {"ok": True, "sheet_names": names, "sheet_name": name, "width": width, "runs": runs, "peak_mib": peak_mib}


def main() -> int:
    gc.disable()  # a short-lived process building ~10^6 objects: the collector would only rescan them
    request = json.loads(sys.stdin.read())
    set_limits(request["memory_mb"], request["cpu_s"], request["max_output"])
    try:
        answer = read(request)
    except Refusal as refusal:
        answer = {"ok": False, "code": refusal.code, **refusal.details}
    except MemoryError:
        answer = {"ok": False, "code": "memory"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os._exit(main())  # the answer is flushed: skip tearing down a heap of a million objects
