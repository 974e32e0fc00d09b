"""Compatibility fixes for the OpenMMLab 2023-24 stack on today's torch and numpy.

Placeholder: filled in once the stack is installed.
"""


def apply():
    """Apply every fix once (idempotent)."""
