"""Every registry model, imported once so ``Base.metadata`` is complete (for migrations and autogenerate)."""

from gateway.auth.models import AuthSession, LoginAttempt
from gateway.db.base import Base
from gateway.device_types.models import DeviceType
from gateway.devices.models import Device
from gateway.exports.models import Job
from gateway.tenants.models import Tenant
from gateway.users.models import User

__all__ = ["AuthSession", "Base", "Device", "DeviceType", "Job", "LoginAttempt", "Tenant", "User"]
