"""The core every layer may import: errors, settings and identifiers.

Nothing here imports another part of the hub or any infrastructure library.
"""
