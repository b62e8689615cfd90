"""The package version, declared once (a leaf: importing it loads nothing else of topoae)."""

__version__ = "0.2.0.dev0"
