"""Count SQL statements with a connection execute wrapper (independent of DEBUG and of the
query log that each request start resets)."""
from contextlib import contextmanager

from django.db import connection


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def count_queries():
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter
