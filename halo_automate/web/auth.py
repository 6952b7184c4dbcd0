"""Who may use the console: password hashes, sessions, CSRF tokens, the login rate limit.

* **Passwords** are argon2id hashes (argon2-cffi, :func:`hash_password`; ``halo-automate
  hash-password`` prints one). An unknown user name is checked against a dummy hash, so
  a wrong name costs as long as a wrong password and timing does not tell names apart.
* **Sessions** live here, in the serving process: the cookie carries 32 random bytes
  (``secrets.token_urlsafe``) that name a :class:`Session`, nothing signed, so there is no
  secret to keep and a logout or a restart ends a session for good. A visitor of the login
  page gets an anonymous session (it carries the CSRF token of the login form); a successful
  login replaces it with a new id (no session fixation). Sessions expire after
  ``web.session_hours``; at most :data:`MAX_SESSIONS` anonymous and as many logged-in ones
  are kept (the oldest go first), so anonymous visitors can neither fill memory nor push a
  logged-in session out.
* **CSRF**: each session has one random token; every POST must carry it as the form field
  ``csrf_token`` (compared in constant time), else 403.
* **Login rate limit** (:class:`LoginLimiter`): at most ``web.login_attempts`` failed logins
  per user name and per client address in ``web.login_window_seconds``; past that a login
  is refused with 429 before the password is even checked.

Time comes from an injected clock (``time.monotonic`` by default), so tests drive expiry and
the rate-limit window without sleeping.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Clock = Callable[[], float]
MAX_SESSIONS = 10_000
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (the form ``web.users`` takes)."""
    return _HASHER.hash(password)


def verify_password(users: Mapping[str, str], name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s; as slow for an unknown name as for a known one."""
    hashed = users.get(name)
    try:
        return _HASHER.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class Session:
    """One browser's session: its user (None before login) and its CSRF token."""

    id: str
    expires: float
    user: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf, token)


class Sessions:
    """The sessions of one console (see the module docstring); safe to share between threads.

    Anonymous sessions (a login form's) and logged-in ones are kept apart, each bounded: a
    flood of login-page visits evicts only older anonymous sessions, never a logged-in one."""

    def __init__(self, lifetime_seconds: float, *, clock: Clock = time.monotonic) -> None:
        self.lifetime = lifetime_seconds
        self._clock = clock
        self._anonymous: OrderedDict[str, Session] = OrderedDict()
        self._users: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str | None) -> Session | None:
        """The live session named by a cookie value, or None (unknown or expired)."""
        if not session_id:
            return None
        with self._lock:
            for pool in (self._users, self._anonymous):
                found = pool.get(session_id)
                if found is not None:
                    if found.expires > self._clock():
                        return found
                    del pool[session_id]
            return None

    def new(self, user: str | None = None) -> Session:
        """A new session (anonymous unless ``user``), with a fresh id and CSRF token."""
        session = Session(secrets.token_urlsafe(32), self._clock() + self.lifetime, user)
        with self._lock:
            pool = self._anonymous if user is None else self._users
            pool[session.id] = session
            while len(pool) > MAX_SESSIONS:
                pool.popitem(last=False)
        return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._anonymous.pop(session_id, None)
            self._users.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._anonymous) + len(self._users)


class LoginLimiter:
    """Failed logins per user name and per client address in a rolling window."""

    def __init__(self, attempts: int, window_seconds: float, *, clock: Clock = time.monotonic):
        self.attempts = attempts
        self.window = window_seconds
        self._clock = clock
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until a login for ``user`` from ``address`` may be tried; 0: now."""
        now = self._clock()
        with self._lock:
            waits = [
                times[0] + self.window - now
                for key in (f"user:{user}", f"addr:{address}")
                if len(times := self._recent(key, now)) >= self.attempts
            ]
        return max(waits, default=0.0)

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (f"user:{user}", f"addr:{address}"):
                self._recent(key, now).append(now)
            if len(self._failures) > MAX_SESSIONS:  # bounded, like the sessions
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{user}", None)
