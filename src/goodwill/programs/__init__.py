"""Programs: referral, stamps and points, each with its own settings."""
