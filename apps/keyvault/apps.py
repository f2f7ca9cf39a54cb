from django.apps import AppConfig


class KeyvaultConfig(AppConfig):
    name = "apps.keyvault"
    label = "keyvault"
    verbose_name = "Key vault"
