"""Account administration under identical requests at the same moment (a double click, two admins):
one account, one grant change, one invitation email, one catalogue item; the others are told it
was already done (tests/support/concurrency.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import AccountToken, User
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.programs.models import ProgramType
from tests.factories import make_school, make_user
from tests.support.concurrency import assert_one_effect, fire_together


@dataclass
class Admins:
    """Ids of two admins and a school, committed in race_app's database."""

    admin: int
    admin2: int
    school: int

    def both(self) -> list[int]:
        return [self.admin] * 4 + [self.admin2] * 4


@pytest.fixture
def admins(race_app) -> Admins:
    with race_app.app_context():
        school = make_school()
        a, b = make_user("admin"), make_user("admin")
        db.session.commit()
        return Admins(a.id, b.id, school.id)


def _count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def _audits(app, action: str, object_id: int) -> int:
    return _count(
        app,
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.object_id == str(object_id)),
    )


def _user(app, admins: Admins, **kw) -> int:
    from school_prevention.schools.models import School

    with app.app_context():
        user = make_user(kw.pop("role", "counselor"), schools=[db.session.get(School, admins.school)], **kw)
        db.session.commit()
        return user.id


def test_creating_one_account_at_once_makes_one_account_and_sends_one_invitation(race_app, admins):
    form = {
        "email": "Nia.Okafor@School.org",
        "name": "Nia Okafor",
        "role": "counselor",
        "schools": [str(admins.school)],
        "send_invite": "y",
    }
    answers = fire_together(race_app, admins.both(), "POST", "/admin/users/new", form)
    assert_one_effect(answers, says="The account for nia.okafor@school.org was already created by")
    with race_app.app_context():
        (user_id,) = db.session.scalars(select(User.id).where(User.email == "nia.okafor@school.org")).all()
    assert _audits(race_app, "user.created", user_id) == 1
    assert _count(race_app, select(func.count()).select_from(AccountToken).where(AccountToken.user_id == user_id)) == 1
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.channel == "email"),
        )
        == 1
    )


def test_granting_student_level_export_at_once_proposes_it_once(race_app, admins):
    from school_prevention.grants.models import AccessRequest

    uid = _user(race_app, admins, role="district")
    with race_app.app_context():
        name = db.session.get(User, uid).name
    answers = fire_together(
        race_app,
        admins.both(),
        "POST",
        f"/admin/users/{uid}",
        {"name": name, "role": "district", "can_export_student_level": "y"},
    )
    assert_one_effect(answers, says="were already saved by")
    assert _audits(race_app, "grant.proposed", uid) == 1
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AccessRequest)
            .where(
                AccessRequest.user_id == uid, AccessRequest.kind == "student_export", AccessRequest.status == "pending"
            ),
        )
        == 1
    )
    with race_app.app_context():
        assert not db.session.get(User, uid).can_export_student_level  # until a district user approves it


def test_deactivating_at_once_deactivates_once(race_app, admins):
    uid = _user(race_app, admins)
    answers = fire_together(race_app, admins.both(), "POST", f"/admin/users/{uid}/active", {"active": "0"})
    assert_one_effect(answers, says="account is already deactivated: deactivated by")
    assert _audits(race_app, "user.deactivated", uid) == 1


def test_inviting_at_once_sends_one_invitation(race_app, admins):
    uid = _user(race_app, admins, role="staff")  # no case data: the invitation goes at once
    answers = fire_together(race_app, admins.both(), "POST", f"/admin/users/{uid}/invite", {"last_invitation": ""})
    assert_one_effect(answers, says="An invitation was already sent to")
    assert _count(race_app, select(func.count()).select_from(AccountToken).where(AccountToken.user_id == uid)) == 1
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == uid, Notification.kind == "account.invite"),
        )
        == 1
    )
    assert _audits(race_app, "user.invite_sent", uid) == 1


def test_adding_one_list_item_at_once_adds_it_once(race_app, admins):
    form = {
        "name": "Scouting",
        "description": "Scouts and similar youth organisations",
        "position": "40",
        "is_active": "y",
    }
    answers = fire_together(race_app, admins.both(), "POST", "/admin/lists/program-types/new", form)
    assert_one_effect(answers, says="The program type “Scouting” was already added by")
    with race_app.app_context():
        (item_id,) = db.session.scalars(select(ProgramType.id).where(ProgramType.name == "Scouting")).all()
    assert _audits(race_app, "admin.program-types.saved", item_id) == 1


def test_changing_one_list_item_at_once_saves_it_once(race_app, admins):
    with race_app.app_context():
        item = ProgramType(name="Chess club", position=50, is_active=True)
        db.session.add(item)
        db.session.commit()
        item_id = item.id
    answers = fire_together(
        race_app,
        admins.both(),
        "POST",
        f"/admin/lists/program-types/{item_id}",
        {"name": "Chess club", "description": "After school", "position": "55", "is_active": "y"},
    )
    assert_one_effect(answers, says="was already saved with these details by")
    assert _audits(race_app, "admin.program-types.saved", item_id) == 1
