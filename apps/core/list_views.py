"""Shared page pieces."""
from django.contrib.auth.mixins import LoginRequiredMixin


class FilteredListMixin(LoginRequiredMixin):
    """A ListView over `base_queryset()` narrowed by `filterset_class` from the query string;
    the template gets `filter` and `query` (the filters without the page number, for the pager)."""

    filterset_class = None
    paginate_by = 50

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        self.filterset = self.filterset_class(self.request.GET or None, queryset=self.base_queryset())
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["filter"] = self.filterset
        query = self.request.GET.copy()
        query.pop("page", None)
        ctx["query"] = query.urlencode()
        return ctx
