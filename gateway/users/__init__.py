"""Users: people and apps that log in with a username and password, each with one role in one tenant."""
