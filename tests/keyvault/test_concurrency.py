"""20 redeemers of one token at the same moment, each on its own PostgreSQL connection:
exactly one gets the value, the other 19 are told it was replayed."""
import threading
import time

import pytest
from django.db import connection

from apps.keyvault import onetime, services
from apps.keyvault.models import OneTimeToken, SecretAccess, TokenRedemption

THREADS = 20


@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_twenty_concurrent_redemptions_wins(keys, make_user):
    assert connection.vendor == "postgresql"
    root = make_user("root", superuser=True)
    services.create_secret(root, name="salt-master-key", value="the-one-value", kind="salt_master_key")
    _row, token = onetime.issue_token(root, "secret", "salt-master-key")
    barrier = threading.Barrier(THREADS)
    results, lock = [], threading.Lock()

    def worker(n):
        try:
            barrier.wait(timeout=30)
            try:
                body = onetime.redeem(token, time.time(), f"10.0.0.{n + 1}")
                outcome = ("ok", body["value"])
            except onetime.RedeemRefused as exc:
                outcome = (str(exc.code), None)
            with lock:
                results.append(outcome)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == THREADS
    assert sorted(results, key=str) == sorted([("ok", "the-one-value")] + [("replayed", None)] * (THREADS - 1),
                                              key=str)
    assert TokenRedemption.objects.filter(outcome="ok").count() == 1
    assert TokenRedemption.objects.filter(outcome="replayed").count() == THREADS - 1
    assert SecretAccess.objects.filter(kind="token").count() == 1
    assert OneTimeToken.objects.get().consumed_at is not None
