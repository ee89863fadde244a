"""Merge automation (Prow's Tide): which PRs are ready, and merging them one at a time."""
