"""Who is calling: the user behind an access token or the web cookie (devices have ``DevicePrincipal``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.users.models import Role


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    user_id: str
    username: str
    tenant_id: str
    role: Role
    session_id: str
    via: Literal["bearer", "cookie"]
    csrf_token: str  # what a page renders into its forms; checked only for cookie-authenticated posts

    @property
    def can_write(self) -> bool:
        return self.role in (Role.admin, Role.operator)
