"""The write path: transports decode and authenticate, validate checks, the pipeline stores durably."""
