"""The five roles of DESIGN.md and what each is for."""

from enum import StrEnum

from flask_babel import gettext


def N_(message: str) -> str:
    """Mark a label for the catalogue (as school_prevention.i18n.N_); it is translated where it is read."""
    return message


class Role(StrEnum):
    """A user's role; exactly one per user."""

    STAFF = "staff"
    COUNSELOR = "counselor"
    PRINCIPAL = "principal"
    DISTRICT = "district"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """The role's name as people say it, in the reader's language."""
        return gettext(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.STAFF: N_("Staff (teacher, nurse, other adult)"),
    Role.COUNSELOR: N_("Counselor / social worker"),
    Role.PRINCIPAL: N_("Principal"),
    Role.DISTRICT: N_("District prevention office"),
    Role.ADMIN: N_("System administrator"),
}

# Roles whose work is tied to particular schools; district and admin see every school.
SCHOOL_SCOPED_ROLES = frozenset({Role.STAFF, Role.COUNSELOR, Role.PRINCIPAL})
