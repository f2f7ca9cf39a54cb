"""The websocket contract: every websocket route of aimatrix.asgi.application, for every role,
anonymous and a member of another project, is accepted or refused as declared. The handshake
goes through the real application (origin check, session and token auth, URL router, consumer)
with channels' WebsocketCommunicator, signed in by session cookie and by API token; a route
nobody declared fails here."""
import asyncio
import concurrent.futures

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework.authtoken.models import Token

from .routes import fill, websocket_routes
from .spec import roles_of
from .world import ALL, ANONYMOUS, build_world, log_in

# Consumers use their own database connections (LAB-NOTES): committed data, not a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

ACCEPT, REFUSE = "accept", "refuse"

# Route template -> who may open it (everyone else, anonymous included, is refused).
WEBSOCKETS = {
    "/ws/jobs/{job_id}/": "admin,sre",  # the job belongs to matrix-root: operators only
}


def _routes():
    found = websocket_routes()
    return sorted(set(found) | set(WEBSOCKETS))


def _origin() -> bytes:
    """A page origin the application's origin check accepts. It copied ALLOWED_HOSTS when
    aimatrix.asgi was imported (at collection here), before the test setup added 'testserver'."""
    host = next(h for h in settings.ALLOWED_HOSTS if h != "testserver")
    host = "portal.example" if host == "*" else ("portal" + host if host.startswith(".") else host)
    return f"http://{host}".encode()


def _in_own_loop(path: str, credential: tuple | None) -> str:
    """The handshake in a thread and event loop of its own: Playwright's sync API keeps a loop
    running in the main thread for the rest of the session once a browser test has run."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _handshake(path, credential)).result(timeout=60)


async def _handshake(path: str, credential: tuple | None) -> str:
    """credential: ("cookie", session key) as pages connect, ("token", key) as API clients do."""
    from aimatrix.asgi import application

    headers = [(b"origin", _origin())]
    if credential and credential[0] == "cookie":
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={credential[1]}".encode()))
    elif credential:
        headers.append((b"authorization", f"Token {credential[1]}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return ACCEPT if connected else REFUSE


@pytest.mark.parametrize("template", _routes())
def test_websocket_matrix(template):
    found = websocket_routes()
    assert template in found, f"websocket route {template} is declared but no longer exists"
    assert template in WEBSOCKETS, f"no expectation declared for websocket route {template}"
    world = build_world()
    log_in(world)
    path = fill(template, world.values(template))
    allowed = set(roles_of(WEBSOCKETS[template]))
    tokens = {role: Token.objects.create(user=user).key for role, user in world.users.items()}
    for kind, keys in (("cookie", world.sessions), ("token", tokens)):
        expected = {role: ACCEPT if role in allowed else REFUSE for role in ALL}
        actual = {role: _in_own_loop(path, None if role == ANONYMOUS else (kind, keys[role]))
                  for role in ALL}
        assert actual == expected, f"{template} by {kind}"
