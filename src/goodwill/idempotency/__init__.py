"""``Idempotency-Key``: a POST retried with the same key and body answers the first answer."""
