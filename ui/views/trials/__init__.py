"""The trials page: suites, checks, the results matrix and the recommendation card."""
