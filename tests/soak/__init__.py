"""Soak under faults: see run_soak.py (not collected by pytest; run it directly)."""
