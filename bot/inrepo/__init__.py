"""In-repository configuration: a repository's own ``.prowlet.yaml`` on its default branch, within
the limits the operator sets in ``in_repo_config`` (Prow's in-repo config, Mergify's and Kodiak's
repository files).  ``layer`` checks a file against the limits (pure); ``resolver`` reads it through
the forge, caches per commit and lays it over the operator's config for one event."""
