"""Rules: the condition language shared by reward rules, stamp cards and earning rules.

Pure code: no I/O, so it can be tested exhaustively and replayed over history.
"""
