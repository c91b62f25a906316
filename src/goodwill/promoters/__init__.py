"""Promoters: the people who refer others in a referral program."""
