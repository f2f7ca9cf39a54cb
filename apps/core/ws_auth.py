"""Websocket authentication: the session cookie (pages) or `Authorization: Token <key>` (API
clients), never a token in the URL where it would end up in access logs."""
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    try:
        token = Token.objects.select_related("user").get(key=key)
    except Token.DoesNotExist:
        return None
    return token.user if token.user.is_active else None


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            scheme, _, key = header.partition(" ")
            if scheme.lower() == "token" and key.strip():
                found = await _user_for_token(key.strip())
                if found is not None:
                    scope["user"] = found
        return await super().__call__(scope, receive, send)


def auth_stack(inner):
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
