"""List pages: a filter panel with chips, a django-tables2 table (sorting, paging, per-user columns,
CSV export of the filtered list), bulk actions and an empty state with guidance.

A list page is declarative: it sets `table_class`, `filterset_class`, `page_title` and returns
what the user may see from `base_queryset()` (the app's service restricts it).
"""
from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import ListView

from .chips import active_filters
from .models import TablePreference
from .tables import PAGE_SIZES, csv_response


class FilteredListMixin(LoginRequiredMixin):
    """A ListView over `base_queryset()` narrowed by `filterset_class` from the query string;
    the template gets `filter` and `query` (the filters without the page number, for the pager)."""

    filterset_class = None
    paginate_by = 50

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        # The request goes along: a filter may offer only what this user sees (e.g. their projects).
        self.filterset = self.filterset_class(self.request.GET or None, queryset=self.base_queryset(),
                                              request=self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["filter"] = self.filterset
        query = self.request.GET.copy()
        query.pop("page", None)
        ctx["query"] = query.urlencode()
        return ctx


class KitListView(FilteredListMixin, ListView):
    """Class attributes: table_class, filterset_class, page_title, page_intro, export_name (the CSV
    file; None: no export), bulk_url + bulk_actions ([(action, label, danger)]: rows get selectors),
    empty ({title, text, how, action_url, action_label, lab_hint}: shown when nothing exists at all)."""

    template_name = "kit/list_page.html"
    paginate_by = None  # the table pages itself
    table_class = None
    page_title = ""
    page_intro = ""
    export_name = None
    bulk_url = None
    bulk_actions = ()
    empty: dict = {}

    def get(self, request, *args, **kwargs):
        if request.GET.get("export") == "csv" and self.export_name:
            table = self.table_class(self.get_queryset(), request=request)
            order_by = request.GET.getlist(table.prefixed_order_by_field)
            if order_by:
                table.order_by = order_by
            return csv_response(table, self.export_name)
        return super().get(request, *args, **kwargs)

    def hidden_columns(self) -> list[str]:
        pref = TablePreference.objects.filter(user=self.request.user,
                                              table=self.table_class.preference_key).first()
        return pref.hidden_columns if pref else []

    def get_table(self):
        hidden = self.hidden_columns()
        table = self.table_class(self.object_list, request=self.request)
        return table.configure(self.request, hidden=hidden), hidden

    def get_empty_context(self) -> dict:
        return dict(self.empty)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        table, hidden = self.get_table()
        query = self.request.GET.copy()
        filtered = any(k not in ("page", "sort", "per_page") for k in query)
        ctx.update(
            table=table, page_title=self.page_title, page_intro=self.page_intro,
            filter_form=self.filterset.form if self.filterset_class else None,
            active_filters=active_filters(self.filterset, query),
            clear_filters_url=self.request.path,
            # "Nothing matches" keeps the table (with its empty text); "nothing exists" guides.
            is_empty=not filtered and not table.paginator.count,
            export_url=("?" + _with(query, export="csv")) if self.export_name else None,
            columns=[(name, header, name not in hidden) for name, header in self.table_class.hideable_columns()],
            table_key=self.table_class.preference_key,
            page_sizes=PAGE_SIZES,
            bulk_url=self.bulk_url, bulk_actions=self.bulk_actions,
        )
        ctx.update({f"empty_{k}": v for k, v in self.get_empty_context().items()})
        return ctx


def _with(query, **values) -> str:
    query = query.copy()
    query.pop("page", None)
    for key, value in values.items():
        query[key] = value
    return query.urlencode()


DETAIL_TABS = ("overview", "jobs", "changes", "related")


def detail_tab(request) -> str:
    """The tab a detail page (kit/detail_page.html) opens on: `?tab=`, when it names one."""
    tab = request.GET.get("tab", "")
    return tab if tab in DETAIL_TABS else "overview"
