"""Execution of a topology: tasks, the poll loop, commits and group membership."""
