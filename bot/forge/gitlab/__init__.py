"""GitLab: webhook translation (``translate``) and the python-gitlab adapter (``client``)."""
