"""prowlet: a Prow-style review bot for GitHub and GitLab."""

__version__ = "0.1.0"
