"""Reports for reviewers: the case page and the daily digest, rendered from plain data."""
