"""ASGI entry point: HTTP through Django, websockets through Channels (`aimatrix.asgi:application`)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.core.ws_auth import auth_stack  # noqa: E402
from apps.jobs.routing import websocket_urlpatterns as job_ws  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin check stops other sites from opening a websocket with the user's cookie.
        "websocket": AllowedHostsOriginValidator(auth_stack(URLRouter(job_ws))),
    }
)

from aimatrix.gc_tuning import freeze_after_startup  # noqa: E402

freeze_after_startup()  # daphne: the loaded app stays out of every later collection
