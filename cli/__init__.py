"""The ``kstreamy`` command line (installed as the ``kstreamy_cli`` package)."""
