"""Indexes that exist for the coverage aggregates (migration 0008), declared beside the queries they serve.

Each lets a district-wide GROUP BY read one index instead of the table (SQLite has no parallel or
hash aggregation, so at a million students this is the difference between a fifth of a second
and several seconds), and lets one school's figures be a short range read.
"""

from sqlalchemy import Index, text

from school_prevention.checkins.models import CheckIn
from school_prevention.flags.models import RiskFlag
from school_prevention.programs.models import Enrollment
from school_prevention.students.models import Student

_student, _flag, _checkin = Student.__table__.c, RiskFlag.__table__.c, CheckIn.__table__.c
_enrollment = Enrollment.__table__.c
# measures.is_current() writes the same condition into the queries, literally, as SQLite requires.
CURRENT_FLAG_WHERE = "status IN ('open', 'monitoring')"

REPORT_INDEXES = (
    # Active students per school and grade (measures.students_by_grade), index only.
    Index("ix_student_school_id_grade_is_active", _student.school_id, _student.grade, _student.is_active),
    # Where each flagged student is (measures.coverage): one read of a narrow index per student
    # instead of the wide student row; PostgreSQL otherwise hashes the whole student table.
    Index(
        "ix_student_id_is_active_school_id_grade", _student.id, _student.is_active, _student.school_id, _student.grade
    ),
    # The current (open or monitoring) flags only, in student order, with what coverage reads
    # (measures.coverage): the district's are grouped per student without a sort, a student's
    # are one probe. Partial: resolved flags, which pile up over the years, are not in it.
    Index(
        "ix_risk_flag_current",
        _flag.student_id,
        _flag.category_id,
        _flag.severity,
        _flag.status,
        sqlite_where=text(CURRENT_FLAG_WHERE),
        postgresql_where=text(CURRENT_FLAG_WHERE),
    ),
    # Whether a plan has a check-in left open (measures.kept_plan): one probe per plan.
    Index("ix_checkin_plan_id_status_due_at", _checkin.plan_id, _checkin.status, _checkin.due_at),
    # Check-ins per school and due time with what adherence reads (measures.checkins), index only.
    Index(
        "ix_checkin_school_id_due_at",
        _checkin.school_id,
        _checkin.due_at,
        _checkin.status,
        _checkin.completed_at,
        _checkin.outcome,
        _checkin.updated_at,
    ),
    # Seats taken per week (measures.activity), read program by program, index only.
    Index("ix_enrollment_program_id_started_at", _enrollment.program_id, _enrollment.started_at, _enrollment.status),
)
