"""Support code for the test suite (broker choice, instance processes, polling)."""
