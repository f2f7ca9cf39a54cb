"""Saving a user's column choice for one list page."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponseBadRequest
from django.views import View

from .models import TablePreference
from .redirects import redirect_next
from .tables import table_for


class TableColumnsView(LoginRequiredMixin, View):
    """POST table=<preference key>, columns=<each column to show>, next=<the list page>."""

    http_method_names = ["post"]

    def post(self, request):
        table = table_for(request.POST.get("table", ""))
        if table is None:
            return HttpResponseBadRequest("table: no such list.", content_type="text/plain")
        hideable = [name for name, _ in table.hideable_columns()]
        shown = set(request.POST.getlist("columns"))
        unknown = shown - set(hideable)
        if unknown:
            return HttpResponseBadRequest(f"columns: no such column: {', '.join(sorted(unknown))[:200]}.",
                                          content_type="text/plain")
        TablePreference.objects.update_or_create(
            user=request.user, table=table.preference_key,
            defaults={"hidden_columns": [name for name in hideable if name not in shown]})
        messages.success(request, "Columns saved.")
        return redirect_next(request, "dashboard")
