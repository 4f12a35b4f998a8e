"""goldenvision: judge manufactured units against a sealed golden sample."""

__version__ = "0.1.0"
