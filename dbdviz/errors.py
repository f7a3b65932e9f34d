"""Exceptions shared by the whole package."""


class Cancelled(RuntimeError):
    """A long job stopped because its cancel event was set."""
