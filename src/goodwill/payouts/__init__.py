"""Payouts: paying the approved balance of a promoter (net of clawbacks)."""
