"""Devices: the boards that send readings, each with a secret it trades for short-lived tokens."""
