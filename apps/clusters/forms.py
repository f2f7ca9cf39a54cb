"""Cluster forms. They only shape input; apps.clusters.services checks permission, validates and audits."""
from __future__ import annotations

from django import forms

from apps.nodes.forms import _styled
from apps.nodes.models import Node
from apps.rbac.permissions import projects_to_act_in, restrict

from .models import Cluster
from .validators import validate_cluster_name


class ConnectForm(forms.Form):
    """The seed's external-cluster form: name, controller, reuse options (all on by default: an
    external cluster is read and operated, never reconfigured)."""

    name = forms.CharField(max_length=40, validators=[validate_cluster_name],
                           help_text="How the portal calls it: lower-case letters, digits, '-' or '_'.")
    controller = forms.ModelChoiceField(queryset=Node.objects.none(), label="Controller node",
                                        help_text="A registered node with an SSH credential and a trusted host key, "
                                                  "where <code>scontrol</code> works. Not listed? Add the node first.")
    login_node = forms.ModelChoiceField(queryset=Node.objects.none(), required=False, label="Login node",
                                        empty_label="— the controller —",
                                        help_text="Where jobs are submitted and their output read.")
    project = forms.ModelChoiceField(queryset=None, required=False, empty_label="— none (operators only) —")
    description = forms.CharField(max_length=300, required=False)
    reuse_config = forms.BooleanField(required=False, initial=True, label="Reuse the cluster's slurm.conf",
                                      help_text="The portal never writes its configuration.")
    reuse_munge = forms.BooleanField(required=False, initial=True, label="Reuse its munge key",
                                     help_text="The portal never distributes a munge key.")
    reuse_database = forms.BooleanField(required=False, initial=True, label="Reuse its accounting database",
                                        help_text="The portal never changes accounts or limits (sacctmgr).")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        usable = restrict(Node.objects.all(), user, "use").order_by("name")
        self.fields["controller"].queryset = usable
        self.fields["login_node"].queryset = usable
        self.fields["project"].queryset = projects_to_act_in(user, Cluster, "add").order_by("name")
        _styled(self)

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Cluster.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A cluster named {name} exists already.")
        return name

    def connect_fields(self) -> dict:
        return dict(self.cleaned_data)

    def test_fields(self) -> dict:
        return {"controller": self.cleaned_data["controller"], "login_node": self.cleaned_data.get("login_node")}
