"""Log-in sessions and tokens: ``POST /session`` (log in, refresh), ``GET`` and ``DELETE
/session/{id}``, and the Bearer check every other call starts with (fact sheet 3)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from .inventory import User
from .replies import Reply, error


@dataclass
class LoginSession:
    session_id: int
    user: User
    tokens: dict[str, float]            # token -> expiry (monotonic)
    refresh_token: str | None
    refresh_expires: float
    alive: bool = True


class Auth:
    """Mixin of ``Array``: uses ``self.users``, ``self.logins``, ``self.by_token``, ``self.by_refresh``,
    ``self.issued_secrets``, ``self.settings``, ``self.lock``."""

    def login(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error(400, "body")
        with self.lock:
            grant = body.get("grant_type", "refresh_token" if "refresh_token" in body else "password")
            if grant not in ("password", "refresh_token"):       # "password" is the documented default
                return error(400, "grant_type")
            if grant == "refresh_token":
                if not isinstance(body.get("refresh_token"), str):
                    return error(400, "refresh_token")
                ls = self.by_refresh.get(body["refresh_token"])
                if ls is None or not ls.alive or time.monotonic() > ls.refresh_expires:
                    return error(401, "refresh_token")
                return Reply(200, self._issue(ls, with_refresh=False))
            name, password = body.get("user_name"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str):
                return error(400, "user_name" if not isinstance(name, str) else "password")
            wants_refresh = body.get("is_refresh_token_required", False)
            if not isinstance(wants_refresh, bool):
                return error(400, "is_refresh_token_required")
            user = self.users.get(name)
            if user is None or not secrets.compare_digest(user.password, password):
                return error(401, "user_name or password")
            ls = LoginSession(self._next_login, user, {}, None, 0.0)
            self._next_login += 1
            if wants_refresh:
                ls.refresh_token = secrets.token_urlsafe(32)
                ls.refresh_expires = time.monotonic() + (self.settings.short_refresh_lifetime
                                                         if user.name == self.settings.short_token_user
                                                         else self.settings.refresh_lifetime)
                self.by_refresh[ls.refresh_token] = ls
                self.issued_secrets.append(ls.refresh_token)
            self.logins[ls.session_id] = ls
            return Reply(200, self._issue(ls, with_refresh=wants_refresh))

    def _issue(self, ls: LoginSession, with_refresh: bool) -> dict:
        token = secrets.token_urlsafe(24)
        lifetime = self.settings.short_token_lifetime if ls.user.name == self.settings.short_token_user \
            else self.settings.token_lifetime
        ls.tokens[token] = time.monotonic() + lifetime
        self.by_token[token] = ls
        self.issued_secrets.append(token)
        out = {"session_id": ls.session_id, "token": token, "lifetime": lifetime}
        if with_refresh and ls.refresh_token:
            out["refresh_token"] = ls.refresh_token
        return out

    def authenticate(self, authorization: str | None) -> LoginSession | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):].strip()
        with self.lock:
            ls = self.by_token.get(token)
            if ls is None or not ls.alive:
                return None
            if time.monotonic() > ls.tokens.get(token, 0):
                return None
            return ls

    def session_info(self, caller: LoginSession, session_id: int) -> Reply:
        with self.lock:
            if session_id != caller.session_id:
                return error(404, "session_id")
            token_left = max(caller.tokens.values(), default=0.0) - time.monotonic()
            return Reply(200, {"session_id": caller.session_id, "user_name": caller.user.name,
                               "lifetime": max(0, int(token_left)),
                               "auth_list": caller.user.policies})

    def logout(self, caller: LoginSession, session_id: int) -> Reply:
        with self.lock:
            if session_id != caller.session_id:
                return error(404, "session_id")
            if self.defect("logout-keeps-refresh"):  # pragma: no mutate block, defect injection
                for token in caller.tokens:             # the tokens go, the session and its refresh token stay
                    self.by_token.pop(token, None)
                caller.tokens.clear()
            elif not self.defect("logout-keeps-token"):
                caller.alive = False
            return Reply(200, None)
