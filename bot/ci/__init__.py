"""CI: the built-in job runner, and the team's own CI (GitHub Actions, GitLab CI) behind one interface."""
