"""Referrals (customer ↔ promoter attribution), leads, and custom-event conversions."""
