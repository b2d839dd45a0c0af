"""The tamper-evident archive's rules: how records are hashed and chained, and checked.

Pure code, no SQLAlchemy: the store's writer and `relay archive verify` share
these definitions, so what is written is what is checked.
"""
