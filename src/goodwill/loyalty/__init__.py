"""Loyalty: stamp cards (qualifying purchases), points ledgers, cards and redemptions.

The purchase and refund services call :func:`goodwill.loyalty.service.record_purchase` and
:func:`goodwill.loyalty.service.record_refund` in their own transaction; custom events call
:func:`goodwill.loyalty.service.record_custom_event`.
"""
