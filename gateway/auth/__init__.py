"""Authentication: logins, sessions and their tokens, device tokens, the cookie session and its CSRF check."""
