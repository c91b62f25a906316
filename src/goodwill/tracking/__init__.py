"""Custom events (seed 003): tracking them from servers and browsers, and their schemas."""
