"""Interactive queries: read a running application's state stores over HTTP.

Start instances with ``query_port=`` and ask any of them; see :class:`Client`.
"""

from kstreamy.query.client import Client, QueryError

__all__ = ["Client", "QueryError"]
