"""The seed 002 action endpoint: ``POST`` ``{"action": "create_purchase", ...}``."""
