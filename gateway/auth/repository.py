"""Every query on sessions and login attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.models import AuthSession, LoginAttempt
from gateway.users.models import User


def add_session(session: AsyncSession, auth_session: AuthSession) -> None:
    session.add(auth_session)


async def live_session(
    session: AsyncSession, session_id: str, user_id: str, now: datetime
) -> tuple[AuthSession, User] | None:
    """The session and its user, unless it was revoked or has expired."""
    query = (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def rotate_refresh(
    session: AsyncSession, session_id: str, old_jti: str, new_jti: str, now: datetime
) -> bool:
    """Swap the newest refresh token id atomically; False when ``old_jti`` is not the newest (a reuse)."""
    result = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.refresh_jti == old_jti,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .values(refresh_jti=new_jti)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke(session: AsyncSession, session_id: str, now: datetime) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def locked_until(session: AsyncSession, keys: Sequence[str], now: datetime) -> datetime | None:
    query = select(func.max(LoginAttempt.locked_until)).where(
        LoginAttempt.key.in_(keys), LoginAttempt.locked_until > now
    )
    return await session.scalar(query)


async def count_failure(
    session: AsyncSession, key: str, now: datetime, *, window: timedelta, max_failures: int
) -> None:
    """One more failure of ``key`` within ``window``; at ``max_failures`` it is locked for ``window``."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stale = LoginAttempt.window_start < now - window
    insert = dialect.insert(LoginAttempt).values(key=key, failures=1, window_start=now)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[LoginAttempt.key],
            set_={
                "failures": case((stale, 1), else_=LoginAttempt.failures + 1),
                "window_start": case((stale, now), else_=LoginAttempt.window_start),
            },
        )
    )
    await session.execute(
        update(LoginAttempt)
        .where(LoginAttempt.key == key, LoginAttempt.failures >= max_failures)
        .values(failures=0, window_start=now, locked_until=now + window)
    )


async def clear_failures(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
