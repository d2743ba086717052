"""An import's original cells are stored as one blob per job and come back exactly in its export; jobs stored
before the blob (their cells in leads.input) still export theirs, across the 0006 migration."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
from sqlalchemy import insert, select

from core import auth, exports, job_store
from core.db import Database
from core.leadfile import prepare_import, valuesblob
from core.models import Job, JobInput, Lead, User
from core.schema import migrate
from tests.leadfile.builders import xlsx_xlsxwriter
from tests.leadfile.test_export import read_csv, read_xlsx
from tests.support import factories

ROWS = [
    ["First Name", "Company", "LinkedIn", "Phone", "Note"],
    ["Åse", "Acme", "https://www.linkedin.com/in/ase", "+47 22 00 00 00", "a\x1fb"],
    ["Bo", "=Beta", "linkedin.com/in/bo", "-1", "@SUM(A1)"],
    ["Cy", "Cee", "https://www.linkedin.com/in/cy", "", "line\nbreak\x1e"],
]


def test_original_cells_round_trip_through_the_blob(db: Database) -> None:
    preview = prepare_import(xlsx_xlsxwriter({"Leads": ROWS}), "x.xlsx")
    with db.write() as s:
        owner = factories.user(s)
        job = job_store.create_job(s, owner=owner, preview=preview, batch_size=5)
    with db.read() as s:
        stored = s.get(JobInput, job.id)
        assert stored is not None and stored.format == valuesblob.FORMAT
        assert [lead.input for lead in s.scalars(select(Lead).where(Lead.job_id == job.id))] == [{}, {}, {}]
        assert job_store.input_values(s, job.id) == {2: ROWS[1], 3: ROWS[2], 4: ROWS[3]}
        _, xlsx = exports.job_export(s, owner, job.id, "xlsx")
        _, csv = exports.job_export(s, owner, job.id, "csv")
    assert [row[:5] for row in read_xlsx(xlsx)[1:]] == ROWS[1:]
    assert [row[:5] for row in read_csv(csv)[1:]][1][1:5] == ["'=Beta", "linkedin.com/in/bo", "'-1", "'@SUM(A1)"]


def test_blob_of_leads_made_elsewhere() -> None:
    """Leads whose values are plain dicts (as other callers build them) pack the same way."""
    leads = [
        type("Lead", (), {"row_number": 7, "values": {"B": "x\x1fy", "A": 1}})(),
        type("Lead", (), {"row_number": 9, "values": {"A": "only A"}})(),
    ]
    columns, rows = valuesblob.unpack(valuesblob.pack(["A", "B"], leads))
    assert columns == ["A", "B"] and list(rows) == [(7, ["1", "x\x1fy"]), (9, ["only A", ""])]


def test_jobs_stored_before_the_blob_export_from_leads_input(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate(database, "0005")  # the revision before the blob
        with database.write() as s:
            owner = auth.create_user(s, "ana", "password-123")
            job = Job(owner_id=owner.id, file_name="old.xlsx", columns=["Company", "LinkedIn"], mapping={}, report={})
            s.add(job)
            s.flush()
            # A Core insert names only these columns: the ORM would also write columns later revisions added.
            s.execute(insert(Lead).values(job_id=job.id, row_number=2, company="Acme", linkedin_url="https://www.linkedin.com/in/a",
                                          input={"Company": "Acme", "LinkedIn": "linkedin.com/in/a"}, status="success"))  # fmt: skip
            job_id = job.id
        migrate(database)
        with database.read() as s:
            user = s.get(User, owner.id)
            assert user is not None and job_store.input_values(s, job_id) is None
            _, data = exports.job_export(s, user, job_id, "xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        assert [sheet["A2"].value, sheet["B2"].value] == ["Acme", "linkedin.com/in/a"]
    finally:
        database.dispose()
