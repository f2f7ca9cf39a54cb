from django.apps import AppConfig


class KeyvaultConfig(AppConfig):
    name = "apps.keyvault"
    label = "keyvault"
    verbose_name = "Key vault"

    def ready(self):
        from django.core.signals import setting_changed

        from . import crypto

        # Fail closed: no process (web, worker, beat, migrate, shell) starts without a usable
        # encryption key. The message names the setting and the position, never the key.
        crypto.check_keys()
        setting_changed.connect(_keys_changed, dispatch_uid="keyvault-keys-changed")
        _register_search()


def _register_search():
    from urllib.parse import urlencode

    from django.urls import reverse

    from apps.core import search

    from . import services
    from .models import Secret

    # Names only: a search never matches or shows a value or a description.
    search.register(Secret, label="Secrets", fields=("name",), visible=services.visible_secrets,
                    url=lambda secret: reverse("keyvault:detail", args=[secret.pk]),
                    more=lambda text: f"{reverse('keyvault:list')}?{urlencode({'name': text})}")


def _keys_changed(setting, **kwargs):
    if setting == "ENCRYPTION_KEYS":
        from . import crypto

        crypto.clear_cache()
