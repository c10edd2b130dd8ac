"""Imports every model module so the metadata is complete for the app and for Alembic."""

from school_prevention.agencies.models import Agency, AgencyReferral, AgencyReferralEvent  # noqa: F401
from school_prevention.audit.models import AuditChainHead, AuditEvent  # noqa: F401
from school_prevention.auth.models import AccountToken, RecoveryCode, User, UserSession, user_school  # noqa: F401
from school_prevention.awareness.models import (  # noqa: F401
    AwarenessConfirmation,
    AwarenessPage,
    AwarenessPageVersion,
)
from school_prevention.checkins.models import (  # noqa: F401
    CheckIn,
    CheckInPlan,
    NonSchoolDay,
    OverdueEpisode,
    ReplanRequest,
)
from school_prevention.disclosures.models import (  # noqa: F401
    Consent,
    Disclosure,
    Guardian,
    InspectionRequest,
    disclosure_student,
    guardian_student,
)
from school_prevention.exports.models import StudentExport  # noqa: F401
from school_prevention.flags.models import FlagCategory, FlagEvent, RiskFlag  # noqa: F401
from school_prevention.grants.models import AccessRequest  # noqa: F401
from school_prevention.notifications.models import Notification  # noqa: F401
from school_prevention.programs.models import (  # noqa: F401
    Attendance,
    Enrollment,
    Match,
    MatchContact,
    Mentor,
    Program,
    ProgramSession,
    ProgramType,
)
from school_prevention.referrals.models import Referral, referral_category  # noqa: F401
from school_prevention.reports import indexes  # noqa: F401  (indexes of the coverage aggregates)
from school_prevention.roster.models import (  # noqa: F401
    RosterImport,
    RosterUpload,
    RosterUploadChunk,
    StudentDemographics,
    StudentSchoolChange,
)
from school_prevention.schools.models import School  # noqa: F401
from school_prevention.screenings.models import Instrument, Screening  # noqa: F401
from school_prevention.students.models import CounselorAssignment, SavedView, Student  # noqa: F401
from school_prevention.tiers.models import (  # noqa: F401
    InterventionPlan,
    ProgressPoint,
    StudentTier,
    TierChange,
    intervention_plan_program,
)
from school_prevention.training.models import Course, TrainingCompletion  # noqa: F401
