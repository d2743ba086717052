"""Import benchmark: lead files through our whole import (parse, validate, store in SQLite), against pandas' parse.

Cases, each generated once and imported in its own process so that memory figures stay apart:
  leads100k  100,000 x 6 .xlsx (shared strings, as Excel writes them), also read by pandas: the speed ratio;
  wide200k   200,000 x 50 .xlsx (about 48 MiB), read by the reader child in blocks of rows;
  widecsv    a 52 MB CSV of 199 short columns, read by the reader child under its memory limit.
The last line printed is one JSON object: the 100,000-row case's rows, ours_s, pandas_s, ratio and peak_mib, the
highest peak of any case (max_peak_mib) and every case's figures. Goals: ours >= 5x faster than pandas on
leads100k; peak <= 1 GiB for every case.

Timing: ours_s is prepare_import + job_store.create_job + commit, the path the Upload page and the command line
take (the engine is created before and disposed after: the app keeps one for its lifetime, and the last close of
a SQLite database checkpoints its write-ahead log, which an import leaves to later commits). Medians of --reps.
peak_mib = this process's peak resident memory + the reader child's (an upper bound of the import's memory:
they do not peak at the same time, the child has ended before the leads are built); both are reported alone too.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = ["First Name", "Last Name", "Company", "LinkedIn URL", "Email", "Country"]
COUNTRIES = ["Norway", "Sweden", "Denmark", "Poland", "Germany", "Spain"]
FIRST = ["Søren", "Åse", "Paweł", "José", "Anna", "Łukasz", "Jürgen", "Émilie", "Ola", "Kari"]
LAST = ["Ødegård", "Żółć", "Müller", "Nordmann", "García", "Kowalski", "Berg", "Dubois"]
CASES = ("leads100k", "wide200k", "widecsv")


def _lead(i: int) -> list[str]:
    """A realistic lead: accented names, 2,000 companies, a tenth of the URLs in other spellings (upper case,
    country host, query string) and one in fifty with a non-ASCII profile name."""
    slug = f"{FIRST[i % 10].lower()}-{i}" if i % 50 == 0 else f"lead-{i}-{i % 997}"
    url = f"https://www.linkedin.com/in/{slug}" if i % 10 else f"http://no.linkedin.com/in/{slug.upper()}/?trk=x"
    return [FIRST[i % 10], LAST[i % 8], f"Company {i % 2000} AS", url, f"lead{i}@example.com", COUNTRIES[i % 6]]


def generate_leads(path: Path, rows: int) -> None:
    """The 100,000-row workbook as xlsxwriter writes it (shared strings)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"strings_to_urls": False})
    sheet = workbook.add_worksheet("Leads")
    sheet.write_row(0, 0, HEADER)
    for i in range(1, rows + 1):
        sheet.write_row(i, 0, _lead(i))
    workbook.close()


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


WORKBOOK_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.'
    'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org'
    '/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
    'http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>",
}


def generate_wide(path: Path, rows: int, columns: int) -> None:
    """A 200,000 x 50 workbook written directly as XML with shared strings (xlsxwriter takes over a minute): the
    lead columns, then notes, codes, numbers and dates as serial numbers, as a CRM export has them."""
    strings: dict[str, int] = {}

    def shared(text: str) -> int:
        found = strings.get(text)
        if found is None:
            found = strings[text] = len(strings)
        return found

    letters = [_column(c) for c in range(columns)]
    extra = [f"Field {c}" for c in range(columns - len(HEADER))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, text in WORKBOOK_PARTS.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData>'
            )
            for r in range(rows + 1):
                values: list[Any] = [*HEADER, *extra] if r == 0 else [*_lead(r), *_extras(r, columns - len(HEADER))]
                cells = []
                for c, value in enumerate(values):
                    ref = f"{letters[c]}{r + 1}"
                    if isinstance(value, str):
                        cells.append(f'<c r="{ref}" t="s"><v>{shared(value)}</v></c>')
                    else:
                        cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                fh.write(f'<row r="{r + 1}">{"".join(cells)}</row>'.encode())
            fh.write(b"</sheetData></worksheet>")
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                + f'2006/main" uniqueCount="{len(strings)}">'.encode()
            )
            for text in strings:
                fh.write(f"<si><t>{escape(text)}</t></si>".encode())
            fh.write(b"</sst>")


def _extras(i: int, count: int) -> list[Any]:
    out: list[Any] = []
    for c in range(count):
        kind = c % 4
        if kind == 0:
            out.append(f"note {(i * 7 + c) % 5000}")
        elif kind == 1:
            out.append(f"T{(i + c) % 97}")
        elif kind == 2:
            out.append((i * 31 + c) % 100_000)
        else:
            out.append(45000 + (i + c) % 2000)
    return out


def generate_csv(path: Path, target_mb: int, columns: int) -> int:
    """A CSV of `columns` short columns (the lead columns, then one to three characters each) of `target_mb` MB."""
    rng = random.Random(12)
    codes = [f"{rng.choice('ABCDEFGH')}{rng.randrange(100)}" for _ in range(997)]
    extra = [f"c{c}" for c in range(columns - len(HEADER))]
    written = rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join([*HEADER, *extra]) + "\r\n")
        while written < target_mb * 1_000_000:
            rows += 1
            line = ",".join([*_lead(rows), *[codes[(rows * 13 + c) % 997] for c in range(len(extra))]]) + "\r\n"
            written += fh.write(line)
    return rows


def generate(case: str, path: Path) -> dict[str, Any]:
    if case == "leads100k":
        generate_leads(path, 100_000)
        return {"rows": 100_000, "columns": len(HEADER)}
    if case == "wide200k":
        generate_wide(path, 200_000, 50)
        return {"rows": 200_000, "columns": 50}
    return {"rows": generate_csv(path, 52, 199), "columns": 199}


class _ReaderPeaks(logging.Handler):
    """Collects the reader child's peak resident memory from core.leadfile.reader_process's debug log."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.peaks: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "reader peak" in record.msg and isinstance(record.args, tuple) and record.args:
            self.peaks.append(float(record.args[-1]))  # type: ignore[arg-type]


def _hwm_mib() -> float:
    """This process's peak resident memory (VmHWM) in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(path: Path, reps: int, workdir: Path) -> dict[str, Any]:
    """Time prepare_import + create_job + commit, `reps` times, each into a fresh copy of a migrated SQLite file."""
    from core import auth, job_store
    from core.db import Database
    from core.leadfile import prepare_import
    from core.models import User
    from core.schema import migrate

    peaks = _ReaderPeaks()
    reader_log = logging.getLogger("core.leadfile.reader_process")
    reader_log.addHandler(peaks)
    reader_log.setLevel(logging.DEBUG)
    template = workdir / "template.db"
    for stale in workdir.glob("template.db*"):  # left by the previous rep's process
        stale.unlink()
    db = Database(f"sqlite:///{template}")
    migrate(db)
    with db.write() as session:
        user_id = auth.create_user(session, "bench", None).id
    db.dispose()
    totals, parses, stores = [], [], []
    counts: dict[str, int] = {}
    parse_peak = 0.0
    for rep in range(reps):
        target = workdir / f"run{rep}.db"
        shutil.copy(template, target)
        database = Database(f"sqlite:///{target}")
        data = path.read_bytes()
        started = time.perf_counter()
        preview = prepare_import(data, path.name)
        parsed_at = time.perf_counter()
        parse_peak = parse_peak or _hwm_mib()  # after the first parse, before anything is stored
        with database.write() as session:
            owner = session.get(User, user_id)
            assert owner is not None
            job_store.create_job(session, owner=owner, preview=preview, batch_size=25)
        ended = time.perf_counter()
        database.dispose()
        totals.append(ended - started)
        parses.append(parsed_at - started)
        stores.append(ended - parsed_at)
        counts = preview.counts
        del preview, data  # one import at a time, as in the app: the last one must not inflate the next one's peak
        target.unlink()
    return {
        "times": totals,
        "parse": parses,
        "store": stores,
        "counts": counts,
        "parse_self_mib": parse_peak,
        "self_mib": _hwm_mib(),
        "child_mib": max(peaks.peaks, default=0.0),
    }


def run_pandas(path: Path, reps: int) -> dict[str, Any]:
    import pandas

    times = []
    for _ in range(reps):
        started = time.perf_counter()
        frame = pandas.read_excel(path, engine="openpyxl", dtype=str)
        times.append(time.perf_counter() - started)
        assert len(frame) > 0
    return {"times": times}


def _worker(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _interleaved(path: Path, workdir: Path, reps: int, pandas_reps: int) -> dict[str, Any]:
    """`reps` imports, each in a fresh process, alternating with pandas' reads (the machine is shared: both
    sides then meet the same load); the peaks are the highest of any one import."""
    runs: list[dict[str, Any]] = []
    pandas: list[float] = []
    for rep in range(max(reps, pandas_reps)):
        if rep < reps:
            runs.append(_worker("--role", "ours", "--path", str(path), "--reps", "1", "--workdir", str(workdir)))
        if rep < pandas_reps:
            pandas.extend(_worker("--role", "pandas", "--path", str(path), "--reps", "1")["times"])
    merged: dict[str, Any] = {key: [v for run in runs for v in run[key]] for key in ("times", "parse", "store")}
    for key in ("parse_self_mib", "self_mib", "child_mib"):
        merged[key] = max(float(run[key]) for run in runs)
    merged["counts"] = runs[-1]["counts"]
    merged["pandas"] = pandas
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="imports of the 100,000-row case")
    parser.add_argument("--big-reps", type=int, default=2, help="imports of each big case")
    parser.add_argument("--pandas-reps", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--role", choices=["main", "gen", "ours", "pandas"], default="main")
    parser.add_argument("--case", choices=CASES)
    parser.add_argument("--path")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.role == "gen":
        print(json.dumps(generate(args.case, Path(args.path))))
        return
    if args.role == "ours":
        print(json.dumps(run_ours(Path(args.path), args.reps, Path(args.workdir))))
        return
    if args.role == "pandas":
        print(json.dumps(run_pandas(Path(args.path), args.reps)))
        return
    cases: dict[str, dict[str, Any]] = {}
    pandas_s = None
    with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
        for case in args.cases.split(","):
            path = Path(tmp) / (f"{case}.csv" if case == "widecsv" else f"{case}.xlsx")
            started = time.perf_counter()
            shape = _worker("--role", "gen", "--case", case, "--path", str(path))
            mib = path.stat().st_size / 2**20
            print(
                f"{case}: generated {shape['rows']:,} x {shape['columns']} ({mib:.1f} MiB) in {time.perf_counter() - started:.1f} s"
            )
            reps = args.reps if case == "leads100k" else args.big_reps
            workdir = Path(tmp) / case
            workdir.mkdir()
            ours = _interleaved(path, workdir, reps, args.pandas_reps if case == "leads100k" else 0)
            if case == "leads100k":
                pandas_s = statistics.median(ours["pandas"])
                print(f"  pandas.read_excel(engine='openpyxl'): {[round(t, 3) for t in ours['pandas']]}")
            path.unlink()
            figures = {
                **shape,
                "file_mib": round(mib, 1),
                "ours_s": round(statistics.median(ours["times"]), 3),
                "parse_s": round(statistics.median(ours["parse"]), 3),
                "store_s": round(statistics.median(ours["store"]), 3),
                "peak_mib": round(float(ours["self_mib"]) + float(ours["child_mib"]), 1),
                "self_peak_mib": round(float(ours["self_mib"]), 1),
                "parse_self_peak_mib": round(float(ours["parse_self_mib"]), 1),
                "child_peak_mib": round(float(ours["child_mib"]), 1),
                "good": ours["counts"].get("good", 0),
            }
            cases[case] = figures
            print(
                f"  ours (prepare_import + create_job + commit): {[round(t, 3) for t in ours['times']]}; median "
                f"{figures['ours_s']} s (parse+validate {figures['parse_s']} s, store {figures['store_s']} s), "
                f"{figures['good']:,} leads"
            )
            print(
                f"  peak resident memory: this process {figures['self_peak_mib']:.0f} MiB "
                f"({figures['parse_self_peak_mib']:.0f} MiB before storing) + reader child "
                f"{figures['child_peak_mib']:.0f} MiB = {figures['peak_mib']:.0f} MiB (goal <= 1024 MiB)"
            )
    lead = cases.get("leads100k", {})
    ratio = round(pandas_s / lead["ours_s"], 2) if pandas_s and lead else None
    if ratio is not None:
        print(f"ratio pandas/ours on leads100k {ratio:.2f}x (goal >= 5x)")
    result = {
        "rows": lead.get("rows"),
        "ours_s": lead.get("ours_s"),
        "pandas_s": round(pandas_s, 3) if pandas_s else None,
        "ratio": ratio,
        "peak_mib": lead.get("peak_mib"),
        "max_peak_mib": max((c["peak_mib"] for c in cases.values()), default=None),
        "parse_s": lead.get("parse_s"),
        "store_s": lead.get("store_s"),
        "cases": cases,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
