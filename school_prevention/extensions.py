"""Bare extension instances; create_app() binds them to an app."""

from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from school_prevention.db import Base

db = SQLAlchemy(model_class=Base)
# Models subclass `Model`: db.Model at run time, the typed declarative Base for mypy, which cannot take an
# instance's attribute as a base class (python/mypy#8603).
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# No default limits: sign-in throttling is applied explicitly in auth.services, where it can
# count only failures (a counselor who types her password right is never slowed down).
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# Languages (i18n.py binds it with the locale and time-zone selectors).
babel = Babel()
