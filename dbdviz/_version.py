"""The package version (its one definition; modules import it from here, not from
the package, so that ``dbdviz/__init__`` may import them)."""

__version__ = "0.2.0"
