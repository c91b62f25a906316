"""Goodwill: a self-hosted referral and loyalty rewards engine."""

__version__ = "0.1.0"
