"""Give a thread's database connection back before a long wait on something else (an SSH
command, salt-api polling). With the connection pool (web processes, or a job run in one) a
fan-out thread that held its connection through minutes of SSH starved its siblings: they
waited for a free connection and failed after the pool's timeout. Without the pool (Celery
workers) the thread reconnects when it next needs the database: milliseconds, against waits of
seconds to minutes. Inside a transaction nothing is released (the transaction needs it)."""
from django.db import connection


def release() -> None:
    if not connection.in_atomic_block:
        connection.close()
