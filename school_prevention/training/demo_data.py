"""Demo data for training and awareness: school staff, their completions (current, due, lapsed, none),
and awareness pages, one of them changed since the demo staff member confirmed it."""

from __future__ import annotations

import random
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.awareness.services import confirm_read, save_page
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.timezones import district_today
from school_prevention.training.models import Course, TrainingCompletion

# Teachers, nurses, bus drivers... of each demo school (no password: like staff from the roster).
STAFF_PER_SCHOOL = {"demo-maple-es": 12, "demo-cedar-ms": 15, "demo-river-hs": 18}
SIGNS, TRAUMA, SCREENER = (
    "Recognising signs of commercial sexual exploitation",
    "Trauma-informed practice",
    "CSE-IT screener",
)


def _complete(user, course, *, ago_days: int, admin) -> None:
    """A completion `ago_days` ago, valid for the course's renewal period (imported-looking)."""
    today = district_today()
    done = today - timedelta(days=ago_days)
    expires = done + relativedelta(months=course.renewal_months) if course.renewal_months else None
    db.session.add(
        TrainingCompletion(
            user_id=user.id,
            course_id=course.id,
            completed_on=done,
            expires_on=expires,
            source="import",
            recorded_by_id=admin.id,
            created_at=utcnow(),
        )
    )


def _ago_for(status: str, renewal_months: int | None, rng: random.Random) -> int:
    """How many days ago a completion was made so that it is current, due or lapsed today."""
    if renewal_months is None:  # a course the district made never lapse: every completion is current
        return rng.randint(20, 400)
    today = district_today()
    valid_days = (today - (today - relativedelta(months=renewal_months))).days
    if status == "current":
        return rng.randint(20, max(21, valid_days - 60))
    if status == "due":
        return valid_days - rng.randint(5, 25)
    return valid_days + rng.randint(3, 120)  # lapsed


def seed_training(schools: dict, given: list[str], family: list[str]) -> None:
    """Staff for each school and completions in realistic proportions; the demo counselor's CSE-IT
    screener training lapsed two days ago (so a new CSE-IT screening is refused with the reason)."""
    from school_prevention.auth.services import create_user

    session = db.session
    rng = random.Random(18)
    courses = {c.name: c for c in session.scalars(select(Course))}
    if not all(name in courses for name in (SIGNS, TRAUMA, SCREENER)):
        return  # the district renamed the seeded courses: nothing sensible to add
    signs, trauma, screener = courses[SIGNS], courses[TRAUMA], courses[SCREENER]
    admin = session.scalars(select(User).where(User.email == "admin@demo.school")).one()
    by_email = {u.email: u for u in session.scalars(select(User).where(User.email.like("%@demo.school")))}
    n = 0
    for sourced_id, count in STAFF_PER_SCHOOL.items():
        for _ in range(count):
            n += 1
            name = f"{rng.choice(given)} {rng.choice(family)}"
            email = f"{name.lower().replace(' ', '.')}.{n}@demo.school"
            user = create_user(
                None,
                email=email,
                name=name,
                role="staff",
                password=None,
                school_ids=[schools[sourced_id].id],
                must_change_password=False,
            )
            status = rng.choices(["current", "due", "lapsed", "none"], weights=[70, 10, 10, 10])[0]
            if status != "none":
                _complete(user, signs, ago_days=_ago_for(status, signs.renewal_months, rng), admin=admin)
    people = [
        # email, course, status
        ("staff@demo.school", signs, "current"),
        ("principal@demo.school", signs, "current"),
        ("principal@demo.school", trauma, "due"),
        ("counselor@demo.school", signs, "current"),
        ("counselor@demo.school", trauma, "current"),
        ("counselor.high@demo.school", signs, "current"),
        ("counselor.high@demo.school", trauma, "current"),
        ("counselor.high@demo.school", screener, "current"),
    ]
    for email, course, status in people:
        _complete(by_email[email], course, ago_days=_ago_for(status, course.renewal_months, rng), admin=admin)
    # The demo counselor's screener certification lapsed two days ago.
    today = district_today()
    _complete(
        by_email["counselor@demo.school"],
        screener,
        ago_days=(today - (today - timedelta(days=2) - relativedelta(months=screener.renewal_months))).days,
        admin=admin,
    )
    session.flush()


SCHOOL_ROLES = ["staff", "counselor", "principal"]
PAGES = [
    (
        "Signs to watch for",
        SCHOOL_ROLES,
        10,
        """\
Children who are exploited rarely say so. What adults notice is usually a **change**, or several
small things together. Any one of these can have an innocent explanation: you do not have to be
sure, only to pass on what you saw.

## In how the student lives
- New and expensive things (phones, clothes, nails, hair) with no explanation, or money and gifts
  from someone you do not know.
- An older boyfriend or girlfriend, or "friends" who pick the student up from school.
- Hotel key cards, several phones, or social media accounts the student hides.
- Running away, staying out overnight, or travelling to other towns.
- A tattoo or branding (a name, a symbol, a barcode) the student will not explain.

## In school
- Sudden absences, falling grades, sleeping in class.
- Withdrawal from friends, fear, anxiety, or signs of injury.
- Talk of "the life", "the game", a "daddy" or "modeling work".

## Online
- Talking about someone they met online who wants to meet, sends gifts, or asks for pictures.
- Being scared that pictures of them will be shared.

If you notice something, **do not investigate**: see *Route the concern, do not investigate*.
""",
    ),
    (
        "Route the concern, do not investigate",
        SCHOOL_ROLES,
        20,
        """\
Your part is to **notice and route**, not to find out what happened. Questioning a child can
frighten them, warn an exploiter, and make it harder for the people whose job it is to help.

1. **Listen** if the student talks to you. Stay calm. Do not ask leading questions
   ("Did he hurt you?"); do not ask for details.
2. **Do not promise to keep a secret.** Say that you will tell someone whose job is to help.
3. **Write down what you saw or heard**, in the student's own words where you can, with the date
   and time. Do not add what you think it means.
4. **Refer it to the counselors today**: use *Refer a concern* in this app. Urgent? Choose
   *Urgent* and also go to the counselor's office or call the front office.
5. **Do not contact** the person you suspect, the student's family or other students about it.
6. If you **suspect abuse or exploitation**, you are a mandated reporter: call the hotline
   ({hotline}) yourself, as well as referring the concern. A child in immediate danger: call 911.
""",
    ),
    (
        "Whom to call",
        [*SCHOOL_ROLES, "district"],
        30,
        """\
| When | Call |
|---|---|
| A child is in immediate danger | **911** |
| You suspect abuse, trafficking or exploitation | The hotline, **{hotline}** |
| Child welfare (child protective services) | **{child_welfare}** |
| Anything else that worries you about a student | The school's counselors: *Refer a concern* |

Calling a hotline does not replace telling the school's counselors: do both. You do not need
your principal's permission to make a report, and you cannot be disciplined for making one in
good faith.
""",
    ),
    (
        "Screening with the CSE-IT",
        ["counselor"],
        40,
        """\
The Commercial Sexual Exploitation-Identification Tool (CSE-IT) may be administered only by staff
who completed the **CSE-IT screener** training and whose certification is current: this app
refuses a CSE-IT screening by anyone else, and says why.

- Record only the **result level** and the next step here, never the items or the student's answers.
- A *clear concern* at high or urgent severity asks for the mandated report record.
- Set a **rescreen date** when the result is a possible concern: it appears on your home page when due.
""",
    ),
]


def seed_awareness() -> None:
    """The demo's awareness pages; the demo staff member confirmed the routing page before it changed."""
    session = db.session
    if session.scalar(select(Course.id).limit(1)) is None:
        return
    from school_prevention.awareness.models import AwarenessPage

    if session.scalar(select(AwarenessPage.id).limit(1)) is not None:
        return
    admin = session.scalars(select(User).where(User.email == "admin@demo.school")).one()
    staff = session.scalars(select(User).where(User.email == "staff@demo.school")).one()
    pages = {
        title: save_page(admin, None, title=title, body=body, audience=audience, position=position)
        for title, audience, position, body in PAGES
    }
    signs, routing = pages["Signs to watch for"], pages["Route the concern, do not investigate"]
    confirm_read(staff, signs, signs.version)
    confirm_read(staff, routing, routing.version)
    # The routing page changed afterwards: the staff member is asked to read it again.
    save_page(
        admin,
        routing,
        title=routing.title,
        audience=routing.roles,
        position=routing.position,
        body=routing.body.replace("Choose\n   *Urgent* and also", "Choose\n   *Urgent* and, as well,"),
    )
