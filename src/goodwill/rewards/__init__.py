"""Rewards and their append-only ledger: grants, approvals, voids, reversals, clawbacks."""
