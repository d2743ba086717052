"""Builders for test data: users, lead previews and jobs, through the same core functions the app uses."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy.orm import Session

from core import auth, job_store
from core.models import Job, User


def user(session: Session, name: str = "ana", role: str = "analyst") -> User:
    return auth.create_user(session, name, "password-123", role)


def preview(companies: dict[str, int], file_name: str = "leads.xlsx") -> SimpleNamespace:
    """A validated import with `n` leads per company, shaped like core.leadfile.ImportPreview."""
    leads = []
    row = 2
    for company, n in companies.items():
        for i in range(n):
            slug = f"{company.lower().replace(' ', '-')}-person-{i}"
            leads.append(
                SimpleNamespace(
                    row_number=row,
                    linkedin_url=f"https://www.linkedin.com/in/{slug}",
                    company=company,
                    first_name="First",
                    last_name=f"Last{i}",
                    full_name=None,
                    email=None,
                    country="Norway",
                    values={"Company": company, "LinkedIn": f"https://www.linkedin.com/in/{slug}"},
                )
            )
            row += 1
    parsed = SimpleNamespace(
        file_name=file_name,
        file_size=1234,
        content_hash=f"hash-{file_name}-{len(leads)}",
        sheet_name="Sheet1",
        columns=["Company", "LinkedIn"],
    )
    return SimpleNamespace(
        parsed=parsed,
        leads=leads,
        mapping={"company": "Company", "linkedin_url": "LinkedIn"},
        counts={"rows": len(leads), "good": len(leads), "duplicates": 0, "problems": 0},
    )


def job(
    session: Session,
    owner: User,
    companies: dict[str, int],
    batch_size: int = 5,
    priority: int = 0,
    file_name: str = "leads.xlsx",
) -> Job:
    return job_store.create_job(
        session, owner=owner, preview=preview(companies, file_name), batch_size=batch_size, priority=priority
    )
