"""Other packages' admins write nothing and show no credential (there is no service to check and
audit a change): before, anyone with authtoken.add_token could mint a token for any user in the
admin with no audit entry, and the token list showed every key."""
import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_api_tokens_are_listed_without_keys_and_never_minted_here(client, make_user):
    root = make_user("root", superuser=True)
    token = Token.objects.create(user=root)
    client.force_login(root)
    listing = client.get("/admin/authtoken/tokenproxy/")
    assert listing.status_code == 200 and token.key not in listing.content.decode()
    detail = client.get(f"/admin/authtoken/tokenproxy/{root.pk}/change/")  # addressed by user id
    assert token.key not in detail.content.decode()  # (no detail page: the list is all there is)
    assert client.get("/admin/authtoken/tokenproxy/add/").status_code == 403
    assert client.post("/admin/authtoken/tokenproxy/add/", {"user": root.pk}).status_code == 403
    assert client.post(f"/admin/authtoken/tokenproxy/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Token.objects.count() == 1


@pytest.mark.parametrize("url", ["/admin/django_celery_beat/periodictask/add/",
                                 "/admin/django_celery_beat/intervalschedule/add/",
                                 "/admin/axes/accessattempt/add/"])
def test_schedules_and_lockouts_are_read_only(client, make_user, url):
    client.force_login(make_user("root", superuser=True))
    assert client.get(url).status_code == 403
    assert client.get(url.replace("add/", "")).status_code == 200
