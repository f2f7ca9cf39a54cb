"""No double booking under concurrency (PostgreSQL): the exclusion constraint refuses an
overlapping booking of a GPU, and 50 concurrent requests for the last 8 free GPUs get exactly 8
granted, each of them booked once."""
import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from apps.allocations import services
from apps.allocations.models import Allocation, AllocationGpu
from apps.core.errors import InvalidInput, ServiceError

from .conftest import add_node

OVERLAPS = """
SELECT count(*) FROM allocations_allocationgpu a JOIN allocations_allocationgpu b
  ON a.gpu_id = b.gpu_id AND a.id < b.id AND a.holds AND b.holds AND a.start < b."end" AND b.start < a."end"
"""


def _postgres():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")


@pytest.mark.django_db
def test_database_refuses_overlapping_booking(team, dev, now, hours):
    _postgres()
    add_node("n1", gpus=1)
    first = services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(2))
    row = first.gpus.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        AllocationGpu.objects.create(allocation=first, gpu=row.gpu, start=now + hours(1), end=now + hours(3))
    # A row that no longer holds (released) is history and may overlap.
    AllocationGpu.objects.create(allocation=first, gpu=row.gpu, start=now + hours(1), end=now + hours(3), holds=False)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_requests_for_the_last_eight_gpus(team, dev, now, hours):
    _postgres()
    for i in range(4):
        add_node(f"n{i}", gpus=4)
    # 8 of the 16 GPUs are taken for the window: 8 stay free.
    services.request_allocation(dev, project=team, gpu_count=4, start=now, end=now + hours(4))
    services.request_allocation(dev, project=team, gpu_count=4, start=now, end=now + hours(4))
    sizes = [1] * 44 + [2] * 6  # mixed sizes: whatever wins, at most 8 GPUs can be granted
    barrier = threading.Barrier(len(sizes))
    granted, refused, errors = [], [], []

    def request(size):
        try:
            barrier.wait()
            alloc = services.request_allocation(dev, project=team, gpu_count=size, spread_allowed=True,
                                                start=now + hours(1), end=now + hours(3))
            granted.append((alloc.pk, size))
        except ServiceError as exc:
            refused.append(exc.field)
        except Exception as exc:  # anything else is a failure of the test
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(size,)) for size in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(granted) + len(refused) == len(sizes)
    assert sum(size for _, size in granted) == 8  # exactly the feasible ones: every free GPU, no more
    assert set(refused) == {"start"}  # refused for the busy window, not for an error
    with connection.cursor() as cursor:
        cursor.execute(OVERLAPS)
        assert cursor.fetchone()[0] == 0
    booked = AllocationGpu.objects.filter(allocation_id__in=[pk for pk, _ in granted], holds=True)
    assert booked.count() == 8 and booked.values("gpu").distinct().count() == 8
    assert Allocation.objects.filter(pk__in=[pk for pk, _ in granted], state="approved").count() == len(granted)


@pytest.mark.django_db(transaction=True)
def test_one_process_on_sqlite_books_each_gpu_once(team, dev, now, hours):
    """The embedded setup: no exclusion constraint, so the process lock is what keeps bookings apart."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    add_node("n1", gpus=4)
    granted, refused = [], []

    def request():
        try:
            granted.append(services.request_allocation(dev, project=team, gpu_count=1, start=now,
                                                       end=now + hours(1)).pk)
        except ServiceError as exc:
            refused.append(exc.field)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert (len(granted), set(refused)) == (4, {"start"})
    with connection.cursor() as cursor:
        cursor.execute(OVERLAPS)
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_pass_the_quota_together(team, dev, now, hours):
    """Ten requests at once against a quota of 4 GPUs (refuse mode): 4 granted, the rest refused
    naming the limit: the quota check and the booking run one at a time per project."""
    _postgres()
    from .conftest import set_quota

    add_node("n1", gpus=8)
    set_quota(team, gpus=4, refuse=True)
    barrier, granted, refused = threading.Barrier(10), [], []

    def request():
        try:
            barrier.wait()
            granted.append(services.request_allocation(dev, project=team, gpu_count=1, start=now,
                                                       end=now + hours(1)).pk)
        except InvalidInput as exc:
            refused.append(exc.errors["gpu_count"][0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(granted) == 4 and len(refused) == 6
    assert all("quota of 4 GPUs at once" in message for message in refused)
