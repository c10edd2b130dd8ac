"""What a counselor's home shows: what is due, as cards, each read in a fixed number of statements.

Each card is a partial template (templates/home/_card_*.html) fed by this module's context; a
feature adds a card by adding its partial to CARDS and its figures to counselor_context().
"""

from __future__ import annotations

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.flags.queries import flags_missing_report, visible_flags
from school_prevention.pages.home.queries import counselor_counts
from school_prevention.permissions import visible_students
from school_prevention.screenings.queries import rescreens_due
from school_prevention.students.saved_views import views_of
from school_prevention.tiers.queries import reviews_due

# Above the others, full width: mandated reports, a legal duty with a deadline.
TOP_CARDS = ["home/_card_reports.html"]
# The grid of cards, in the order they are shown.
CARDS = [
    "home/_card_checkins.html",
    "home/_card_referrals.html",
    "home/_card_caseload.html",
    "home/_card_rescreens.html",
    "home/_card_plan_reviews.html",
]
RESCREENS_SHOWN = 20
REVIEWS_SHOWN = 20


def counselor_context(user: User, clock) -> dict:
    """The cards' figures and lists, and how many students the lists name (for the page's one audit row)."""
    counts = db.session.execute(counselor_counts(user, clock)).one()
    missing_reports = db.session.scalars(flags_missing_report(visible_flags(user))).all()
    rescreens = db.session.scalars(rescreens_due(visible_students(user), clock.today).limit(RESCREENS_SHOWN)).all()
    plan_reviews = db.session.scalars(reviews_due(user, clock.today).limit(REVIEWS_SHOWN)).all()
    return {
        "top_cards": TOP_CARDS,
        "cards": CARDS,
        "counts": counts,
        "missing_reports": missing_reports,
        "rescreens": rescreens,
        "views": db.session.scalars(views_of(user)).all(),
        # Intervention plans whose review date has come (check-in plans have no review date).
        "plan_reviews": plan_reviews,
        "named": {
            "missing_reports": len(missing_reports),
            "rescreens": len(rescreens),
            "plan_reviews": len(plan_reviews),
        },
    }
