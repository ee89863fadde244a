"""Stateful fake forges served over HTTP, reached through the real PyGithub / python-gitlab."""
