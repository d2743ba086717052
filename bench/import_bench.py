"""Import benchmark: a 100,000-row lead .xlsx through our import (parse, validate, store in SQLite) against pandas' parse."""

# Each side runs in its own process so memory numbers stay apart. The last line printed is one JSON object:
# {"rows", "ours_s", "pandas_s", "ratio", "peak_mib", ...}. Goal: ours >= 5x faster than pandas, < 2 s, < 400 MiB.
# peak_mib = this process's peak + the reader child's peak (an upper bound: they are not simultaneous); each one is
# also reported alone as self_peak_mib and child_peak_mib.

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from core.leadfile import ImportPreview

HEADER = ["First Name", "Last Name", "Company", "LinkedIn URL", "Email", "Country"]
COUNTRIES = ["Norway", "Sweden", "Denmark", "Poland", "Germany", "Spain"]


def generate(path: Path, rows: int) -> None:
    """A realistic lead workbook: accented names, 2,000 companies, a tenth of the URLs in other spellings
    (upper case, country host, query string) and one in fifty with a non-ASCII profile name."""
    import xlsxwriter

    first = ["Søren", "Åse", "Paweł", "José", "Anna", "Łukasz", "Jürgen", "Émilie", "Ola", "Kari"]
    last = ["Ødegård", "Żółć", "Müller", "Nordmann", "García", "Kowalski", "Berg", "Dubois"]
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_urls": False})
    sheet = workbook.add_worksheet("Leads")
    sheet.write_row(0, 0, HEADER)
    for i in range(1, rows + 1):
        slug = f"{first[i % 10].lower()}-{i}" if i % 50 == 0 else f"lead-{i}-{i % 997}"
        url = f"https://www.linkedin.com/in/{slug}" if i % 10 else f"http://no.linkedin.com/in/{slug.upper()}/?trk=x"
        sheet.write_row(
            i,
            0,
            [first[i % 10], last[i % 8], f"Company {i % 2000} AS", url, f"lead{i}@example.com", COUNTRIES[i % 6]],
        )
    workbook.close()


def _store_fallback(preview: ImportPreview, url: str) -> None:
    """Plain SQLAlchemy Core bulk insert of the leads into a table with the same columns as core's leads."""
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine, insert

    meta = MetaData()
    table = Table(
        "leads",
        meta,
        Column("id", Integer, primary_key=True),
        Column("row_number", Integer),
        Column("company", String(255)),
        Column("linkedin_url", String(512)),
        Column("first_name", String),
        Column("last_name", String),
        Column("full_name", String),
        Column("email", String),
        Column("country", String),
        Column("input", JSON),
    )
    engine = create_engine(url)
    meta.create_all(engine)
    rows = [
        {
            "row_number": lead.row_number,
            "company": lead.company,
            "linkedin_url": lead.linkedin_url,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "full_name": lead.full_name,
            "email": lead.email,
            "country": lead.country,
            "input": lead.values,
        }
        for lead in preview.leads
    ]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    engine.dispose()


class _ReaderPeaks(logging.Handler):
    """Collects the reader child's peak resident memory from core.leadfile.reader_process's debug log."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.peaks: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "reader peak" in record.msg:
            last = record.args[-1] if isinstance(record.args, tuple) and record.args else 0.0
            self.peaks.append(float(last) if isinstance(last, int | float | str) else 0.0)


def _hwm_mib() -> float:
    """This process's peak resident memory (VmHWM) in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(path: Path, reps: int, workdir: Path) -> dict[str, Any]:
    """Time prepare_import + storing the leads, `reps` times, each into a fresh SQLite database."""
    from core.leadfile import prepare_import

    peaks = _ReaderPeaks()
    sandbox_log = logging.getLogger("core.leadfile.reader_process")
    sandbox_log.addHandler(peaks)
    sandbox_log.setLevel(logging.DEBUG)

    store_kind = "sqlalchemy-core-bulk-insert"
    template = workdir / "template.db"
    user_id = None
    try:
        from core import auth, job_store
        from core.db import Database
        from core.models import User
        from core.schema import migrate

        if hasattr(job_store, "create_job"):
            store_kind = "core.job_store.create_job"
            db = Database(f"sqlite:///{template}")
            migrate(db)
            with db.write() as session:
                user_id = auth.create_user(session, "bench", None).id
            db.dispose()
    except ImportError:
        pass
    totals, parses, stores = [], [], []
    counts: dict[str, int] = {}
    parse_peak = 0.0
    for rep in range(reps):
        target = workdir / f"run{rep}.db"
        if store_kind == "core.job_store.create_job":
            shutil.copy(template, target)
        started = time.perf_counter()
        preview = prepare_import(path.read_bytes(), path.name)
        parsed_at = time.perf_counter()
        parse_peak = parse_peak or _hwm_mib()  # after the first import, before anything is stored
        if store_kind == "core.job_store.create_job":
            database = Database(f"sqlite:///{target}")
            with database.write() as session:
                owner = session.get(User, user_id)
                assert owner is not None
                job_store.create_job(session, owner=owner, preview=preview, batch_size=25)
            database.dispose()
        else:
            _store_fallback(preview, f"sqlite:///{target}")
        ended = time.perf_counter()
        totals.append(ended - started)
        parses.append(parsed_at - started)
        stores.append(ended - parsed_at)
        counts = preview.counts
        del preview  # one import at a time, as in the app: the last one must not inflate the next one's peak
    return {
        "times": totals,
        "parse": parses,
        "store": stores,
        "store_kind": store_kind,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pandas-reps", type=int, default=2)
    parser.add_argument("--role", choices=["main", "gen", "ours", "pandas"], default="main")
    parser.add_argument("--path")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.role == "gen":
        generate(Path(args.path), args.rows)
        print(json.dumps({"ok": True}))
        return
    if args.role == "ours":
        print(json.dumps(run_ours(Path(args.path), args.reps, Path(args.workdir))))
        return
    if args.role == "pandas":
        print(json.dumps(run_pandas(Path(args.path), args.reps)))
        return
    with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
        path = Path(tmp) / "leads.xlsx"
        started = time.perf_counter()
        _worker("--role", "gen", "--path", str(path), "--rows", str(args.rows))
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - started:.1f} s"
        )
        ours = _worker("--role", "ours", "--path", str(path), "--reps", str(args.reps), "--workdir", tmp)
        theirs = _worker("--role", "pandas", "--path", str(path), "--reps", str(args.pandas_reps))
    ours_s = statistics.median(ours["times"])
    parse_s = statistics.median(ours["parse"])
    store_s = statistics.median(ours["store"])
    pandas_s = statistics.median(theirs["times"])
    # The two peaks are not simultaneous (the child has exited before this process builds the leads), so their
    # sum is an upper bound; the goal (< 400 MiB) is checked against it, and this process's own peak is reported too.
    peak = float(ours["self_mib"]) + float(ours["child_mib"])
    parse_peak = float(ours["parse_self_mib"]) + float(ours["child_mib"])
    print(f"ours  (prepare_import + {ours['store_kind']}): {[round(t, 3) for t in ours['times']]}")
    print(f"      parse+validate median {parse_s:.3f} s, store median {store_s:.3f} s, counts {ours['counts']}")
    print(f"pandas.read_excel(engine='openpyxl'): {[round(t, 3) for t in theirs['times']]}")
    print(
        f"peak resident memory: this process {ours['self_mib']:.0f} MiB ({ours['parse_self_mib']:.0f} MiB before "
        f"storing) + reader child {ours['child_mib']:.0f} MiB"
    )
    print(f"ratio pandas/ours {pandas_s / ours_s:.2f}x (goal >= 5x), ours {ours_s:.2f} s (goal < 2 s)")
    result = {
        "rows": args.rows,
        "ours_s": round(ours_s, 3),
        "pandas_s": round(pandas_s, 3),
        "ratio": round(pandas_s / ours_s, 2),
        "peak_mib": round(peak, 1),
        "parse_s": round(parse_s, 3),
        "store_s": round(store_s, 3),
        "parse_peak_mib": round(parse_peak, 1),
        "self_peak_mib": round(float(ours["self_mib"]), 1),
        "child_peak_mib": round(float(ours["child_mib"]), 1),
        "store": ours["store_kind"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
