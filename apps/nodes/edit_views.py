"""Pages that change one node: add/edit, its BMC, delete. Each calls the same service as the API
(permission, validation, secret destinations, audit); refusals land next to the field."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.rbac.page_views import KitConfirmView, KitDeleteView, KitFormView, ObjectMixin

from . import importer, services
from .forms import BmcForm, NodeForm


class NodeFormView(ObjectMixin, KitFormView):
    """/nodes/add/ and /nodes/<pk>/edit/."""

    form_class = NodeForm
    template_name = "nodes/node_form.html"
    required_action = "change"

    def visible_queryset(self):
        return services.visible_nodes(self.request.user).select_related("ssh_credential")

    def may_create(self):
        return importer.may_import(self.request.user)  # may add nodes somewhere

    @property
    def page_title(self):
        return "Edit node {obj}" if self.object else "Add a node"

    @property
    def submit_label(self):
        return "Save" if self.object else "Add node"

    @property
    def success_message(self):
        return "Saved node {obj}." if self.object else "Added node {obj}."

    @property
    def cancel_url(self):
        return None if self.object else reverse("nodes:list")

    def form_kwargs(self):
        return {"user": self.request.user, "instance": self.object,
                "label_suggestions": services.labels_in_use(self.request.user)}

    def save(self, form):
        if self.object is None:
            return services.create_node(self.request.user, **form.changes())
        return services.update_node(self.request.user, self.object, **form.changes())


class NodeBmcView(ObjectMixin, KitFormView):
    """/nodes/<pk>/bmc/: attach or change the BMC (needs `manage` on the node)."""

    form_class = BmcForm
    template_name = "nodes/node_form.html"
    required_action = "manage"
    submit_label = "Save BMC"
    success_message = "Saved the BMC of {obj}."
    page_intro = ("Power actions and health polls go to this BMC with the credential below; the address "
                  "must lie within the managed networks and the credential's destinations.")

    def visible_queryset(self):
        return services.visible_nodes(self.request.user)

    @property
    def page_title(self):
        return "Change the BMC of {obj}" if services.has_bmc(self.object) else "Add a BMC to {obj}"

    def form_kwargs(self):
        return {"user": self.request.user, "node": self.object}

    def save(self, form):
        services.set_bmc(self.request.user, self.object, **form.service_arguments())
        return self.object


class NodeBmcRemoveView(ObjectMixin, KitConfirmView):
    """/nodes/<pk>/bmc/remove/: confirm, then detach the BMC."""

    required_action = "manage"

    def visible_queryset(self):
        return services.visible_nodes(self.request.user)

    def get(self, request, pk):
        node = self.get_object()
        if not services.has_bmc(node):
            messages.info(request, f"Node {node.name} has no BMC.")
            return redirect(node)
        return super().get(request, pk)

    def confirmation(self, node) -> dict:
        bmc = node.bmc
        return {"page_title": f"Remove the BMC of {node}?", "confirm_label": "Remove BMC",
                "cancel_url": node.get_absolute_url(),
                "consequence": f"The {bmc.get_driver_display()} BMC at {bmc.address} is forgotten: power actions "
                               f"and health polls of {node} stop until a BMC is added again. The credential "
                               f"{bmc.credential.name} stays in the key vault; the machine is not touched."}

    def act(self, node) -> str:
        services.remove_bmc(self.request.user, node)
        return f"Removed the BMC of {node}."


class NodeDeleteView(KitDeleteView):
    """/nodes/<pk>/delete/: says what goes with the node and what stands in the way."""

    success_url = "nodes:list"

    def visible_queryset(self):
        return services.visible_nodes(self.request.user)

    def get(self, request, pk):
        node = self.get_object()
        effects = services.deletion_effects(node)
        return render(request, self.template_name, {
            "page_title": f"Delete node {node}?", "consequence": self.consequence(node, effects), "objects": [node],
            "confirm_label": "Delete node", "danger": True, "cancel_url": node.get_absolute_url(),
            "refused": bool(effects["blockers"])})

    def consequence(self, node, effects=None):
        effects = effects or services.deletion_effects(node)
        if effects["blockers"]:
            return (f"{node} cannot be deleted while these use it: {', '.join(effects['blockers'])}. "
                    "Remove it from them first.")
        gone = [f"{effects['host_keys']} host key{'s' if effects['host_keys'] != 1 else ''}",
                "its BMC settings" if effects["bmc"] else "no BMC",
                f"{effects['events']} event{'s' if effects['events'] != 1 else ''}"]
        return (f"{node} ({node.address}) is removed from the portal with {', '.join(gone)}. Its jobs and audit "
                "entries stay; nothing is done on the machine. This cannot be undone.")

    def delete(self, node):
        services.delete_node(self.request.user, node)
