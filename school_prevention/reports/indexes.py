"""Indexes that exist for the coverage aggregates (migration 0008), declared beside the queries they serve.

Each lets a district-wide GROUP BY read one index instead of the table (SQLite has no parallel or
hash aggregation, so at a million students this is the difference between a fifth of a second
and several seconds), and lets one school's figures be a short range read.
"""
from sqlalchemy import Index

from school_prevention.checkins.models import CheckIn
from school_prevention.flags.models import RiskFlag
from school_prevention.students.models import Student

_student, _flag, _checkin = Student.__table__.c, RiskFlag.__table__.c, CheckIn.__table__.c

REPORT_INDEXES = (
    # Active students per school and grade (measures.students_by_grade), index only.
    Index("ix_student_school_id_grade_is_active", _student.school_id, _student.grade, _student.is_active),
    # The district's current flags without reading every student (measures.coverage).
    Index("ix_risk_flag_status_student_id", _flag.status, _flag.student_id, _flag.severity, _flag.category_id),
    # Whether a plan has a check-in left open (measures.kept_plan): one probe per plan.
    Index("ix_checkin_plan_id_status_due_at", _checkin.plan_id, _checkin.status, _checkin.due_at),
    # Check-ins per school and due time with what adherence reads (measures.checkins), index only.
    Index("ix_checkin_school_id_due_at", _checkin.school_id, _checkin.due_at, _checkin.status, _checkin.completed_at,
          _checkin.outcome, _checkin.updated_at),
)
