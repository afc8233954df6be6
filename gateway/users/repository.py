"""Every user query."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.users.models import User


async def by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def any_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().select_from(User))))


def add(session: AsyncSession, *, tenant_id: str, username: str, password_hash: str, role: str) -> User:
    user = User(tenant_id=tenant_id, username=username, password_hash=password_hash, role=role)
    session.add(user)
    return user
