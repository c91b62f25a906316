"""Referral links, and the clicks through them (``GET /r/{code}``)."""
