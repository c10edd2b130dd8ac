"""A real OpenID Connect provider on loopback (the oidc-provider-mock package), for single sign-on tests.

The provider signs real ID tokens. Each test person is a subject whose claims the test sets; claims
such as aud, nonce or exp given to a subject replace the ones the provider would write, which is how
a token for another app, a replayed one or an expired one is made (still signed by the provider).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import requests


@dataclass
class Provider:
    """The provider's address (its issuer) and a way to set up its people."""

    url: str

    def person(self, sub: str, email: str, *, verified: bool = True, **claims) -> str:
        """A subject at the provider with this email (and any other claims); returns sub."""
        body = {"email": email, "email_verified": verified, "name": sub, **claims}
        response = requests.put(f"{self.url}/users/{sub}", json=body, timeout=10)
        response.raise_for_status()
        return sub

    def with_wrong_audience(self, sub: str, email: str) -> str:
        """A person whose ID token is made out to another app."""
        return self.person(sub, email, aud="some-other-app")

    def with_wrong_nonce(self, sub: str, email: str) -> str:
        """A person whose ID token carries a nonce this sign-in never sent (a replayed answer)."""
        return self.person(sub, email, nonce="a-nonce-from-another-sign-in")

    def with_expired_token(self, sub: str, email: str) -> str:
        """A person whose ID token expired an hour ago (past any clock-skew leeway)."""
        past = int(time.time()) - 3600
        return self.person(sub, email, iat=past - 600, exp=past)


@contextmanager
def loopback_provider():
    """Run the provider on 127.0.0.1 for the duration (nonce required, as real providers honour it)."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}")


def configure(app, provider: Provider, **overrides) -> dict:
    """Point the app's single sign-on at provider; returns the settings it replaced (for restore)."""
    settings = {
        "SP_OIDC_ISSUER": provider.url,
        "SP_OIDC_CLIENT_ID": "school-prevention",
        "SP_OIDC_CLIENT_SECRET": "loopback-secret",
        "SP_OIDC_PROVIDER_NAME": "the test provider",
        "SP_OIDC_ALLOWED_DOMAINS": [],
    }
    settings.update(overrides)
    before = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    app.extensions.pop("sp_oidc", None)  # the Authlib client is made again from the new settings
    return before


def restore(app, before: dict) -> None:
    """Undo configure()."""
    app.config.update(before)
    app.extensions.pop("sp_oidc", None)
