"""Customers: the people a business knows, keyed by its own ``source_id``."""
