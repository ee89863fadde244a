"""GitHub: webhook translation (``translate``) and the PyGithub adapter (``client``)."""
