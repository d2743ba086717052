"""Column-name synonyms for lead fields and the header-row score (standard library only: the reader child imports it)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Synonyms are written as people write them; they are compared through `header_key`.
# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    "linkedin_url": (
        "LinkedIn", "LinkedIn URL", "LinkedIn Profile", "LinkedIn Profile URL", "LinkedIn Profile Link",
        "LinkedIn Link", "LinkedIn Address", "Profile URL", "Profile Link", "linkedinProfileUrl",
        "Person Linkedin Url", "Person LinkedIn", "Personal LinkedIn", "LinkedIn Personal URL", "LI URL", "LI",
        "LI Profile", "Public Profile URL", "Default Profile URL", "Lien LinkedIn", "Profil LinkedIn",
        "LinkedIn Profil", "URL LinkedIn", "LinkedIn-Profil", "Perfil de LinkedIn", "LinkedIn-profil",
    ),
    "company": (
        "Company", "Company Name", "Organisation", "Organization", "Organisation Name", "Organization Name",
        "Firma", "Firmenname", "Firmanavn", "Empresa", "Nombre de la empresa", "Entreprise", "Société",
        "Nom de l'entreprise", "Unternehmen", "Account Name", "Account", "Employer", "Current Company",
        "Current Employer", "Company / Account", "Bedrift", "Virksomhed", "Selskap", "Foretag", "Företag",
        "Azienda", "Bedrijf", "Firma / Company", "Organisasjon", "Companyname",
    ),
    "first_name": (
        "First Name", "Firstname", "First", "Given name", "Forename", "Vorname", "Prénom", "Fornavn", "Förnamn",
        "Nombre", "Nome", "Voornaam", "Imię", "Etunimi", "FName", "Contact First Name",
    ),
    "last_name": (
        "Last Name", "Lastname", "Last", "Surname", "Family name", "Nachname", "Nom", "Nom de famille",
        "Etternavn", "Efternavn", "Efternamn", "Apellido", "Apellidos", "Cognome", "Achternaam", "Nazwisko",
        "Sukunimi", "LName", "Contact Last Name",
    ),
    "full_name": (
        "Full Name", "Name", "Contact Name", "Contact", "Person Name", "Lead Name", "Display Name", "Navn",
        "Namn", "Nom complet", "Nombre completo", "Vollständiger Name", "Nome completo", "Naam",
        "Imię i nazwisko", "fullName",
    ),
    "email": (
        "Email", "E-mail", "Email Address", "E-mail Address", "Work Email", "Business Email", "Professional Email",
        "Personal Email", "Mail", "Email 1", "Primary Email", "professionalEmail", "E-post", "Epost",
        "E-postadresse", "E-Mail-Adresse", "Courriel", "Adresse e-mail", "Correo", "Correo electrónico",
        "Sähköposti",
    ),
    "country": (
        "Country", "Country Name", "Country/Region", "Land", "Pays", "País", "Paese", "Kraj", "Maa", "Nation",
        "Person Country", "Location Country",
    ),
}
# fmt: on


def header_key(text: str) -> str:
    """A column name reduced for comparison: accents, case, spacing and punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


KEY_TO_FIELD: dict[str, str] = {header_key(s): f for f, names in SYNONYMS.items() for s in names}


def header_score(cells: Iterable[str]) -> int:
    """How many distinct lead fields a row's cells name: the header row is the one that names the most."""
    found = {KEY_TO_FIELD.get(header_key(c)) for c in cells if c and len(c) < 80}
    found.discard(None)
    return len(found)


def looks_like_profile_url(text: str) -> bool:
    """A cheap test for a cell holding a LinkedIn profile link."""
    lowered = text.lower()
    return "linkedin.com/in/" in lowered or "linkedin.com/pub/" in lowered
