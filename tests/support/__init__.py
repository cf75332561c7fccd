"""Helpers shared by the tests and the bench scripts (not part of the package), and the test
tiers plugin (``tiers``)."""
