"""Small OneRoster 1.1 CSV sets written by tests (and the benchmark's generator at any size)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

ORG_HEADER = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"]
USER_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
]
DEMO_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "birthDate",
    "sex",
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
]


def manifest(users="bulk", orgs="bulk", demographics="absent") -> list[list[str]]:
    return [
        ["propertyName", "value"],
        ["manifest.version", "1.0"],
        ["oneroster.version", "1.1"],
        ["file.orgs", orgs],
        ["file.users", users],
        ["file.demographics", demographics],
        ["file.enrollments", "absent"],
        ["source.systemName", "Test SIS"],
    ]


def org(sid, name, type_="school", status=""):
    return [sid, status, "", name, type_, sid.upper(), "district-1" if type_ == "school" else ""]


def student(sid, given, family, orgs, grade="07", enabled="true", status="", identifier=None):
    return [
        sid,
        status,
        "",
        enabled,
        orgs,
        "student",
        f"{sid}@students.example",
        "",
        given,
        family,
        "",
        identifier or sid.upper(),
        "",
        "",
        "",
        "",
        grade,
        "",
    ]


def staff(sid, given, family, orgs, role="teacher", email=None, status=""):
    return [
        sid,
        status,
        "",
        "true",
        orgs,
        role,
        email or f"{given.lower()}@school.example",
        "",
        given,
        family,
        "",
        "",
        email or f"{given.lower()}@school.example",
        "",
        "",
        "",
        "",
        "",
    ]


def guardian(
    sid, given, family, agents, role="parent", email=None, phone="555-0100", sms="", status="", enabled="true", orgs=""
):
    """A parent or guardian row: agents are the sourcedIds of their students, comma-separated."""
    return [
        sid,
        status,
        "",
        enabled,
        orgs,
        role,
        email or f"{sid}@family.example",
        "",
        given,
        family,
        "",
        "",
        email or f"{sid}@family.example",
        sms,
        phone,
        agents,
        "",
        "",
    ]


def write(folder: Path, files: dict[str, list[list[str]]], *, bom=False, crlf=True) -> Path:
    """Write each file as CSV (quoted where needed), optionally with a BOM and CRLF line endings."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n" if crlf else "\n").writerows(rows)
        data = ("\ufeff" if bom else "") + buffer.getvalue()
        (folder / name).write_text(data, encoding="utf-8", newline="")
    return folder


def district(n_students: int = 40, schools: int = 2) -> dict[str, list[list[str]]]:
    """A clean district: schools named by level, students spread over them."""
    orgs = [ORG_HEADER, org("district-1", "Test District", "district")]
    orgs += [org(f"sch-{i}", f"School {i} Middle", "school") for i in range(1, schools + 1)]
    users = [USER_HEADER] + [
        student(f"stu-{n}", f"Given{n}", f"Family{n}", f"sch-{n % schools + 1}") for n in range(1, n_students + 1)
    ]
    return {"manifest.csv": manifest(), "orgs.csv": orgs, "users.csv": users}
