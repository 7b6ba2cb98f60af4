"""The session engine of pages and the admin (SESSION_ENGINE): Django's database sessions,
stored under the SHA-256 of their key.

Django's own database backend keeps the cookie's value as the row's primary key, so a copy of
`django_session` is a list of working cookies. Here the browser still holds the random key,
but the row holds only its hash (as for API tokens, accounts.session_tokens), and
every lookup hashes the key it is given first: a stored value put in a cookie finds nothing.
The key has 32 random characters, so an unsalted hash cannot be reversed by guessing.

Built on the documented extension points of Django's database backend (its model class and
create_model_instance) and the public store methods (load, exists, delete and their async
twins); what is not overridden, such as create, save, cycle_key and clear_expired (hence
`manage.py clearsessions`), is Django's.
"""

from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import CookieSession
from accounts.session_tokens import hash_session_token


def _rows(session_key: str) -> QuerySet[CookieSession]:
    return CookieSession.objects.filter(session_key=hash_session_token(session_key))


def _live_rows(session_key: str) -> QuerySet[CookieSession]:
    return _rows(session_key).filter(expire_date__gt=timezone.now())


class SessionStore(db.SessionStore):
    @classmethod
    def get_model_class(cls) -> type[CookieSession]:
        return CookieSession

    def create_model_instance(self, data: dict[str, Any]) -> AbstractBaseSession:
        session = super().create_model_instance(data)
        session.session_key = hash_session_token(session.session_key)
        return session

    async def acreate_model_instance(self, data: dict[str, Any]) -> AbstractBaseSession:
        session = await super().acreate_model_instance(data)
        session.session_key = hash_session_token(session.session_key)
        return session

    def load(self) -> dict[str, Any]:
        key = self.session_key
        return self.loaded_data(None if key is None else _live_rows(key).first())

    async def aload(self) -> dict[str, Any]:
        key = self.session_key
        return self.loaded_data(None if key is None else await _live_rows(key).afirst())

    def loaded_data(self, row: CookieSession | None) -> dict[str, Any]:
        """The data of the row found for this session's key, if any."""
        if row is None:
            # Unknown or expired: drop the key, so that a write makes a new one instead of
            # adopting a key the client chose (as each of Django's own backends does).
            self._session_key = None
            return {}
        data: dict[str, Any] = self.decode(row.session_data)
        return data

    def exists(self, session_key: str) -> bool:
        return _rows(session_key).exists()

    async def aexists(self, session_key: str) -> bool:
        return await _rows(session_key).aexists()

    def delete(self, session_key: str | None = None) -> None:
        key = self.session_key if session_key is None else session_key
        if key is not None:
            _rows(key).delete()

    async def adelete(self, session_key: str | None = None) -> None:
        key = self.session_key if session_key is None else session_key
        if key is not None:
            await _rows(key).adelete()
