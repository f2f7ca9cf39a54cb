"""The audit log's admin page is registered in apps.rbac.admin: every ModelAdmin stands on the base
class of the permission layer (apps.rbac.admin_base), which this ground-floor app may not import."""
