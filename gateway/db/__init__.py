"""The relational registry (tenants, users, devices, device types, sessions): SQLite or PostgreSQL."""
