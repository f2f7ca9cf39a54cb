"""LDAP login settings (django-auth-ldap), read from the environment. Filled in by the LDAP work."""


def configure_ldap(settings: dict) -> None:
    return None
