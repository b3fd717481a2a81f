"""Set up Probity's view of a target's SQL: the statement log, attribution, the catalog and read-back.

For an embedded target everything is local: the cluster's JSON log is followed from its current end, the
catalog is read from the live database, and read-back runs as Probity's own role (which the capture filters
out). A running target needs a DSN of a role that may read the server's log; without one, no SQL view
exists and every SQL probe says INCONCLUSIVE.
"""

from __future__ import annotations

from contextlib import ExitStack

import psycopg

from probity.capture.collector import Collector
from probity.capture.fence import FenceConnection
from probity.capture.follow import LogFollower, current_logfile
from probity.capture.remote import RemoteLog
from probity.core.catalog import Catalog
from probity.core.errors import HarnessError
from probity.core.trace import Attribution
from probity.engine.observer import SqlView
from probity.engine.readback import DatabaseReadBack
from probity.runtime.stack import EmbeddedStack
from probity.sql import catalog_from_database

__all__ = ["embedded_view", "remote_view"]


def embedded_view(stack: EmbeddedStack, mode: Attribution, scope: ExitStack) -> SqlView:
    """The SQL view of an embedded target, closed with *scope*."""
    assert stack.pg is not None and stack.database is not None
    database = stack.database
    follower = scope.enter_context(LogFollower(current_logfile(stack.pg.data_dir), from_end=True))
    # Markers go through the maintenance database: resets between passes drop the target's connections.
    fence = scope.enter_context(FenceConnection(stack.pg.url("postgres")))
    collector = Collector(follower, mode, marker=fence, database=database.spec.name, user=database.app.user)
    readback = DatabaseReadBack(database.admin_url)
    scope.callback(readback.close)
    return SqlView(collector, _catalog(database.admin_url), readback)


def remote_view(dsn: str, mode: Attribution, scope: ExitStack, backend_user: str | None = None) -> SqlView:
    """The SQL view of a running target through *dsn* (a role that may read the server's log files)."""
    log = RemoteLog.connect(dsn, from_end=True)
    scope.callback(log.close)
    fence = scope.enter_context(FenceConnection(dsn))
    collector = Collector(log, mode, marker=fence, user=backend_user)
    readback = DatabaseReadBack(dsn)
    scope.callback(readback.close)
    return SqlView(collector, _catalog(dsn), readback)


def _catalog(dsn: str) -> Catalog:
    try:
        with psycopg.connect(dsn, application_name="probity-catalog") as conn:
            return catalog_from_database(conn)
    except psycopg.Error as exc:
        raise HarnessError(f"cannot read the target's catalog: {exc}") from exc
