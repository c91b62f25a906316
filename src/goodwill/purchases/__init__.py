"""Purchases and refunds: the events that earn and undo commissions."""
