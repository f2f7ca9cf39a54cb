"""The global search page: what every app registered in `apps.core.search`, among the rows the user
may see, grouped by kind."""
from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView

from . import search


class SearchView(LoginRequiredMixin, TemplateView):
    template_name = "core/search.html"
    http_method_names = ["get", "head"]
    per_model = 5

    def get(self, request, *args, **kwargs):
        text = search.clean(request.GET.get("q"))
        too_long = len(text) > search.MAX_QUERY_LENGTH
        # A bounded query: a longer text is refused, not cut, so nobody is shown hits for words
        # they did not type (and an over-long LIKE pattern never reaches the database).
        groups = [] if too_long else search.search_groups(request.user, text, per_model=self.per_model)
        context = self.get_context_data(
            query=text[:search.MAX_QUERY_LENGTH], groups=groups, max_length=search.MAX_QUERY_LENGTH,
            error=f"q: at most {search.MAX_QUERY_LENGTH} characters." if too_long else "",
            kinds=[entry.label for entry in search.searchables()])
        return self.render_to_response(context, status=400 if too_long else 200)
