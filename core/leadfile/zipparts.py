"""The parts of an .xlsx, .xlsb or .ods zip, in the reader child: bounded inflation, marker search and part lookup."""

# Imported by the reader child by its bare name: standard library and defusedxml only.

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import signal
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from defusedxml import ElementTree
from refusal import Refusal

CHUNK = 1 << 20
# Byte strings whose presence in a part asks for a closer look: error cells (t="e") and formulas in worksheets
# (every formula ends in </f>, or </x:f> with a prefix: "f>"), LibreOffice's error cells in content.xml. Each
# costs one scan of the inflated part (about 25 ms for the 24 MB sheet of 100,000 rows), so there are few.
MARKERS = {
    "error": (b't="e"',),
    "formula": (b"f>",),
    "ods_error": (b'calcext:value-type="error"',),
}
OVERLAP = max(len(m) for ms in MARKERS.values() for m in ms)
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OFFICE_DOCUMENT = "/officeDocument"


class Package:
    """The parts of the zip by normalised name: their stored names, sizes and markers. The markers come from the
    verifying pass; when it runs in a second process (Verifier), the first question about them waits for it."""

    __slots__ = ("_markers", "names", "sizes", "verifier")

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.names: dict[str, str] = {}  # normalised name -> name as stored
        self._markers: dict[str, set[str]] | None = {}
        self.verifier: Verifier | None = None

    def found(self) -> dict[str, set[str]]:
        """The markers of every part (after verify)."""
        return self._markers or {}

    def markers(self, name: str | None) -> set[str]:
        """The markers found in part `name` (an empty set for no part)."""
        if self._markers is None:
            self._markers = self.verifier.wait() if self.verifier is not None else {}
        return self._markers.get(name, set()) if name else set()


def listing(path: str) -> Package:
    """The parts as the zip's directory declares them, before any is inflated (verify checks them)."""
    package = Package()
    package._markers = None
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = normalise(info.filename)
                package.names[name] = info.filename
                package.sizes[name] = info.file_size
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds on damaged data
        raise Refusal("damaged", detail=f"{type(exc).__name__}: {exc}") from None
    return package


class Verifier:
    """`verify` in a forked process, alongside calamine's reading in this one: on two cores the check of every
    part costs no wall time. A part that fails the check stops the file at once with the verifier's reason: the
    verifier writes the refusal as the reader's answer and kills the reader, whatever calamine was doing. The
    reader uses what calamine read only after `wait` has returned."""

    def __init__(self, path: str, max_total: int) -> None:
        self.answer: dict[str, Any] | None = None
        read_end, write_end = os.pipe()
        reader = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(read_end)
            self._check(path, max_total, write_end, reader)
        os.close(write_end)
        self._read_end = read_end

    @staticmethod
    def _check(path: str, max_total: int, write_end: int, reader: int) -> None:
        """The verifier process: markers through the pipe when every part passes, else the refusal as the answer."""
        try:
            found = verify(path, max_total)
            answer: dict[str, Any] = {"ok": True, "markers": {k: sorted(v) for k, v in found.found().items() if v}}
        except Refusal as refusal:
            answer = {"ok": False, "code": refusal.code, **refusal.details}
        except MemoryError:
            answer = {"ok": False, "code": "memory"}
        except BaseException as exc:  # noqa: BLE001 - any failure of the check refuses the file
            answer = {"ok": False, "code": "damaged", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        answer["peak_mib"] = _peak_mib()
        data = json.dumps(answer).encode()
        if answer["ok"]:
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        else:
            os.write(1, data)  # stdout, shared with the reader: the parent reads this as the reader's answer
            os.kill(reader, signal.SIGKILL)
        os._exit(0)

    def wait(self) -> dict[str, set[str]]:
        """The markers by part, once every part passed (the verifier kills this process otherwise)."""
        if self.answer is None:
            with os.fdopen(self._read_end, "rb") as pipe:
                raw = pipe.read()
            _, status = os.waitpid(self.pid, 0)
            try:
                self.answer = json.loads(raw) if raw else None
            except ValueError:
                self.answer = None
            if not isinstance(self.answer, dict):  # ended (memory, CPU) before it could answer
                self.answer = {"ok": False, "code": "memory" if os.WIFSIGNALED(status) else "damaged"}
        if not self.answer.get("ok"):
            details = {k: v for k, v in self.answer.items() if k not in ("ok", "code", "peak_mib")}
            raise Refusal(str(self.answer.get("code")), **details)
        return {k: set(v) for k, v in self.answer.get("markers", {}).items()}

    def peak_mib(self) -> float:
        return float((self.answer or {}).get("peak_mib", 0.0))


def _peak_mib() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def normalise(name: str) -> str:
    """A part name the way calamine's zip reader sees it: forward slashes, no leading slash."""
    return name.replace("\\", "/").lstrip("/")


def verify(path: str, max_total: int) -> Package:
    """Inflate every part once with bounded output: each must end where its declared size and CRC say it does,
    all together must stay under `max_total` bytes, and the markers each part holds are noted on the way."""
    with open(path, "rb") as fh:
        data = fh.read()
    package = Package()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
        total = 0
        for info in infos:
            name = normalise(info.filename)
            wanted = _wanted_markers(name)
            size, found = _inflate_checked(data, info, max_total - total, wanted)
            total += size
            package.sizes[name] = size
            package._markers[name] = found  # type: ignore[index]
            package.names[name] = info.filename
    except (Refusal, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, struct and zlib raise many kinds on damaged data
        raise Refusal("damaged", detail=f"{type(exc).__name__}: {exc}") from None
    return package


def _wanted_markers(name: str) -> dict[str, tuple[bytes, ...]]:
    lowered = name.lower()
    if lowered == "content.xml":
        return {"ods_error": MARKERS["ods_error"]}
    if lowered.endswith(".xml") and "sheet" in posixpath.basename(lowered):
        return {"error": MARKERS["error"], "formula": MARKERS["formula"]}
    return {}


def _inflate_checked(
    data: bytes, info: zipfile.ZipInfo, budget: int, wanted: dict[str, tuple[bytes, ...]]
) -> tuple[int, set[str]]:
    """Size of one part and the markers found in it, inflated chunk by chunk, never past its size or the budget."""
    at = info.header_offset
    if data[at : at + 4] != b"PK\x03\x04":
        raise Refusal("damaged", detail=f"no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + name_len + extra_len
    packed = memoryview(data)[start : start + info.compress_size]
    if len(packed) != info.compress_size:
        raise Refusal("damaged", detail=f"{info.filename} is cut off")
    limit = min(info.file_size, budget)
    found: set[str] = set()
    pending = dict(wanted)
    tail = b""

    def look(out: bytes) -> None:
        nonlocal tail
        seam = tail + out[:OVERLAP]  # a marker across two blocks
        for key in [k for k, needles in pending.items() if any(n in out or n in seam for n in needles)]:
            found.add(key)
            del pending[key]
        tail = out[-OVERLAP:]

    if info.compress_type == zipfile.ZIP_STORED:
        produced, crc = len(packed), zlib.crc32(packed)
        if pending:
            for pos in range(0, len(packed), CHUNK):
                look(bytes(packed[pos : pos + CHUNK]))
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
            if pending:
                look(out)
        if not inflater.eof and produced <= limit:
            raise Refusal("damaged", detail=f"{info.filename} ends early")
    else:
        raise Refusal("damaged", detail=f"{info.filename} uses compression {info.compress_type}")
    if produced > budget:
        raise Refusal("unpacked_too_big")
    if produced != info.file_size or crc != info.CRC:
        raise Refusal("damaged", detail=f"{info.filename} is not the size or checksum it declares")
    return produced, found


def open_part(zf: zipfile.ZipFile, package: Package, name: str) -> Any:
    """A stream of the part `name` (normalised), whatever its stored spelling."""
    return zf.open(package.names[name])


def read_small(zf: zipfile.ZipFile, package: Package, name: str, limit: int = 16 << 20) -> bytes | None:
    """The bytes of a small part, or None when it is missing or larger than `limit`."""
    if name not in package.names or package.sizes.get(name, 0) > limit:
        return None
    with open_part(zf, package, name) as stream:
        return stream.read(limit)


def _find(package: Package, wanted: str) -> str | None:
    """The stored part whose normalised name matches `wanted`, ignoring case as Windows-made zips need."""
    if wanted in package.names:
        return wanted
    lowered = wanted.lower()
    return next((n for n in package.names if n.lower() == lowered), None)


def _rels(zf: zipfile.ZipFile, package: Package, part: str) -> list[tuple[str, str, str]]:
    """(id, type, target part) of the relationships of `part`, targets resolved against its folder."""
    folder, base = posixpath.split(part)
    found = _find(package, posixpath.join(folder, "_rels", base + ".rels"))
    raw = read_small(zf, package, found) if found else None
    if not raw:
        return []
    out = []
    for rel in ElementTree.fromstring(raw).iter(f"{NS_PKG_REL}Relationship"):
        target = normalise(rel.get("Target", ""))
        if not rel.get("Target", "").replace("\\", "/").startswith("/"):
            target = posixpath.normpath(posixpath.join(folder, target))
        out.append((rel.get("Id", ""), rel.get("Type", ""), target))
    return out


def workbook_part(zf: zipfile.ZipFile, package: Package) -> str | None:
    """The workbook part: the package's officeDocument relationship, else the usual places."""
    for _, kind, target in _rels(zf, package, ""):  # the package's own relationships, _rels/.rels
        if kind.endswith(OFFICE_DOCUMENT):
            found = _find(package, target)
            if found:
                return found
    for guess in ("xl/workbook.xml", "workbook.xml"):
        found = _find(package, guess)
        if found:
            return found
    return None


def sheet_parts(zf: zipfile.ZipFile, package: Package) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """(workbook part, sheet name -> worksheet part, relationship type suffix -> part) of an .xlsx package."""
    book = workbook_part(zf, package)
    if book is None:
        return None, {}, {}
    raw = read_small(zf, package, book)
    if not raw:
        return book, {}, {}
    rels = _rels(zf, package, book)
    by_id = {rid: target for rid, _, target in rels}
    by_type = {kind.rsplit("/", 1)[-1]: target for _, kind, target in rels}
    sheets: dict[str, str] = {}
    for node in ElementTree.fromstring(raw).iter():
        if node.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        rid = node.get(f"{NS_REL}id") or next((v for k, v in node.attrib.items() if k.endswith("}id")), "")
        target = by_id.get(rid)
        found = _find(package, target) if target else None
        if found:
            sheets[node.get("name", "")] = found
    return book, sheets, {k: v for k, v in ((k, _find(package, v)) for k, v in by_type.items()) if v}


def date1904(zf: zipfile.ZipFile, package: Package, book: str) -> bool:
    """Whether the workbook counts dates from 1904 (old Mac Excel)."""
    raw = read_small(zf, package, book) or b""
    return re.search(rb"date1904\s*=\s*[\"'](?:1|true)[\"']", raw) is not None


def stream_blocks(stream: Any, size: int = CHUNK) -> Iterator[bytes]:
    """The stream's bytes in blocks of about `size`."""
    while block := stream.read(size):
        yield block
