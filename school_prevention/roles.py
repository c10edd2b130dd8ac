"""The five roles of DESIGN.md and what each is for."""
from enum import StrEnum


class Role(StrEnum):
    """A user's role; exactly one per user."""

    STAFF = "staff"
    COUNSELOR = "counselor"
    PRINCIPAL = "principal"
    DISTRICT = "district"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """The role's name as people say it."""
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.STAFF: "Staff (teacher, nurse, other adult)",
    Role.COUNSELOR: "Counselor / social worker",
    Role.PRINCIPAL: "Principal",
    Role.DISTRICT: "District prevention office",
    Role.ADMIN: "System administrator",
}

# Roles whose work is tied to particular schools; district and admin see every school.
SCHOOL_SCOPED_ROLES = frozenset({Role.STAFF, Role.COUNSELOR, Role.PRINCIPAL})
