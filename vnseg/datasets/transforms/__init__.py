"""Data transforms registered into mmseg's TRANSFORMS registry (one component per module).

Each module registers itself on import; ``vnseg.datasets`` imports the ones its datasets use.
"""
