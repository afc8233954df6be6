"""Creating users (CLI, first-admin bootstrap) and checking their passwords."""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import security
from gateway.config import KNOWN_WEAK_SECRETS, Settings
from gateway.errors import Conflict, Unprocessable
from gateway.tenants import service as tenants
from gateway.users import repository
from gateway.users.models import Role, User

log = logging.getLogger(__name__)
MIN_PASSWORD_LENGTH = 8


async def create(
    session: AsyncSession, hasher: PasswordHasher, *, username: str, password: str, role: Role, tenant_id: str
) -> User:
    """A new user in ``tenant_id`` (created when new); 409 when the username is taken."""
    if not username.strip() or len(username) > 128:
        raise Unprocessable("the username must be 1-128 characters")
    if len(password) < MIN_PASSWORD_LENGTH or password.lower() in KNOWN_WEAK_SECRETS:
        raise Unprocessable(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters and not be a known default"
        )
    await tenants.ensure(session, tenant_id)
    password_hash = await security.hash_secret(hasher, password)
    user = repository.add(
        session, tenant_id=tenant_id, username=username, password_hash=password_hash, role=role
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"user {username!r} already exists") from None
    return user


async def bootstrap_admin(session: AsyncSession, hasher: PasswordHasher, settings: Settings) -> None:
    """The first admin from GATEWAY_ADMIN_USERNAME/PASSWORD, in tenant ``default``, while no user exists."""
    password = settings.admin_password.get_secret_value()
    if not (settings.admin_username and password) or await repository.any_exists(session):
        return
    try:
        await create(
            session,
            hasher,
            username=settings.admin_username,
            password=password,
            role=Role.admin,
            tenant_id="default",
        )
    except Conflict:  # another worker created it first
        return
    log.info("created the first admin %r in tenant 'default'", settings.admin_username)


async def authenticate(
    session: AsyncSession, hasher: PasswordHasher, username: str, password: str
) -> User | None:
    """The user when the password matches; an unknown user costs the same hashing (no timing oracle)."""
    user = await repository.by_username(session, username)
    ok = await security.verify_secret(hasher, user.password_hash if user else None, password)
    return user if ok else None
