"""respkit: what every RESP server in the lab shares.

Layout: ``glob`` (Redis's glob patterns for KEYS, SCAN MATCH and PSUBSCRIBE,
linear in the key's length times the pattern's).
"""
