"""The HTTP edge: app factory, middleware, error envelope, transactions and idempotency."""
