"""Operations on an application from outside its instances: savepoints, reset, liveness.

Used by the ``kstreamy savepoint`` and ``kstreamy reset`` commands; each function takes the
application (its topology and config) and talks to the broker with ordinary clients.
"""
