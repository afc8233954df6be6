"""Tenants: the boundary every user, device and device type lives inside."""
