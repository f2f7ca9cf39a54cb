"""Database connections are reused by the production HTTP server: real gunicorn processes
(aimatrix/gunicorn_conf.py, preloaded app, sync workers) with psycopg's pool on the test
PostgreSQL. New sessions are counted by PostgreSQL itself (pg_stat_database.sessions), open
ones in pg_stat_activity. Under daphne without the pool every request opened a session, and 200
concurrent clients exhausted max_connections."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from rest_framework.authtoken.models import Token

from apps.nodes.models import Node

from .. import processes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]

WORKERS, POOL_MAX = 2, 2
BOUND = WORKERS * POOL_MAX  # the most sessions these servers may ever hold
NODES_URL = "/api/v1/nodes/?limit=100"
APP_NAME = "serving-gunicorn"  # application_name of the servers' sessions


class Probe:
    """Reads PostgreSQL's own counters on one connection of its own, opened before any
    measurement (this process's Django pool is not involved)."""

    def __init__(self):
        self.conn = psycopg.connect(processes.test_database_url(), autocommit=True, application_name="serving-probe")
        self.lock = threading.Lock()

    def _one(self, sql: str) -> int:
        with self.lock:
            self.conn.execute("SELECT pg_stat_clear_snapshot()")
            return self.conn.execute(sql).fetchone()[0]

    def sessions_opened(self) -> int:
        """Sessions ever established to the test database (PostgreSQL >= 14)."""
        return self._one("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")

    def servers_connected(self) -> int:
        """The servers' sessions open right now."""
        return self._one(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP_NAME}'")


@pytest.fixture(scope="module")
def probe(django_db_setup):
    probe = Probe()
    yield probe
    probe.conn.close()


@pytest.fixture(scope="module")
def gunicorn_url(probe):
    server, url = processes.start_gunicorn(
        "serving-gunicorn", workers=WORKERS, DATABASE_URL=f"{processes.test_database_url()}?application_name={APP_NAME}",
        AIMATRIX_DB_POOL="1", AIMATRIX_DB_POOL_MIN="1", AIMATRIX_DB_POOL_MAX=str(POOL_MAX))
    yield url
    server.stop()
    deadline = time.monotonic() + 10  # the test database is dropped next: let PostgreSQL see them go
    while probe.servers_connected() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def token(make_user):
    user = make_user("lister", superuser=True)
    Node.objects.bulk_create([Node(name=f"n{i:03d}", address=f"10.9.0.{i}") for i in range(1, 121)])
    return Token.objects.create(user=user).key


def get_nodes(url: str, token: str) -> int:
    try:
        response = requests.get(url + NODES_URL, headers={"Authorization": f"Token {token}"}, timeout=30)
    except requests.RequestException:
        return 0
    return response.status_code if not response.ok or len(response.json()["results"]) == 100 else -1


def test_sequential_and_concurrent_requests_reuse_pooled_connections(gunicorn_url, token, probe):
    before = probe.sessions_opened()
    sequential = [get_nodes(gunicorn_url, token) for _ in range(60)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        concurrent = list(pool.map(lambda _: get_nodes(gunicorn_url, token), range(60)))
    opened = probe.sessions_opened() - before

    assert sequential + concurrent == [200] * 120
    # The workers connected (the counter works), then served 120 requests on those connections.
    assert 1 <= opened <= BOUND, f"{opened} new PostgreSQL sessions for 120 requests"
    assert 1 <= probe.servers_connected() <= BOUND


def test_two_hundred_concurrent_clients_end_without_errors_and_bounded_connections(gunicorn_url, token, probe):
    get_nodes(gunicorn_url, token)  # the workers' pools are open
    before, peak, done = probe.sessions_opened(), [probe.servers_connected()], threading.Event()

    def watch():
        while not done.wait(0.05):
            peak.append(probe.servers_connected())

    watcher = threading.Thread(target=watch, daemon=True)
    with ThreadPoolExecutor(max_workers=200) as pool:
        watcher.start()
        statuses = list(pool.map(lambda _: get_nodes(gunicorn_url, token), range(200)))
    done.set()
    watcher.join()

    assert statuses == [200] * 200, {s: statuses.count(s) for s in set(statuses)}
    assert max(peak) <= BOUND, f"up to {max(peak)} sessions open"
    assert probe.sessions_opened() - before <= BOUND
