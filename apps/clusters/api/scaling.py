"""Scaling API (Salt):

    POST /api/v1/clusters/<id>/nodes/check-salt/  {nodes}   200: per node key, ping, Salt and Slurm versions, ready or why not
    POST /api/v1/clusters/<id>/nodes/scale/       {nodes, munge_key?, partitions?}                     202 + job
    POST /api/v1/clusters/<id>/nodes/scale-down/  {nodes, reason?, drain_timeout?, force?}             202 + job

`nodes` are portal node names (scale) or the cluster's Slurm node names (scale-down). 404 for a
cluster the user may not see, 403 without `manage` on it, 400 naming the field otherwise
(an external cluster, or one that reuses its own slurm.conf, is never scaled by the portal).
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.jobs.api.responses import accepted
from apps.jobs.api.serializers import JobSerializer

from .. import scaling
from .operations import ClusterScoped


class CheckSaltSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField(max_length=253), min_length=1,
                                 max_length=scaling.MAX_NODES, help_text="Portal node names.")


class ScaleSerializer(CheckSaltSerializer):
    munge_key = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True,
                                      help_text="Vault secret (name or id, kind munge_key) with the cluster's munge "
                                                "key, base64; required unless the cluster reuses its own.")
    partitions = serializers.ListField(child=serializers.CharField(max_length=63), required=False, max_length=100,
                                       help_text="Partitions to put the nodes in (default: the default partition).")


class ScaleDownSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField(max_length=63), min_length=1,
                                  max_length=scaling.MAX_NODES, help_text="Slurm node names of this cluster.")
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    drain_timeout = serializers.IntegerField(min_value=0, max_value=scaling.DRAIN_WAIT_MAX_S, required=False,
                                             default=scaling.DRAIN_WAIT_DEFAULT_S,
                                             help_text="Seconds to wait for running jobs after draining.")
    force = serializers.BooleanField(required=False, default=False,
                                     help_text="Remove the nodes even if jobs still run after the wait.")


class CheckSaltView(ClusterScoped):
    @extend_schema(request=CheckSaltSerializer, responses={200: None})
    def post(self, request, pk):
        """Whether each node can be scaled in: its minion's key accepted, a ping answered, Salt
        version, Slurm installed; `ready` or the reasons why not. Reads only."""
        cluster = self.cluster(pk)
        scaling.check_may_scale(request.user, cluster)
        data = CheckSaltSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"cluster": cluster.pk, "nodes": scaling.check_salt(request.user, cluster,
                                                                              data.validated_data["nodes"])})


class ScaleView(ClusterScoped):
    @extend_schema(request=ScaleSerializer, responses={202: JobSerializer})
    def post(self, request, pk):
        """Scale nodes in (a job: Salt state slurm.node, configuration, apply, wait until idle)."""
        cluster = self.cluster(pk)
        scaling.check_may_scale(request.user, cluster)
        data = ScaleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return accepted(scaling.start_scale(request.user, cluster, v["nodes"], munge_key=v.get("munge_key"),
                                            partitions=v.get("partitions")))


class ScaleDownView(ClusterScoped):
    @extend_schema(request=ScaleDownSerializer, responses={202: JobSerializer})
    def post(self, request, pk):
        """Scale nodes out (a job: drain, wait for jobs, remove, apply, stop slurmd through Salt)."""
        cluster = self.cluster(pk)
        scaling.check_may_scale(request.user, cluster)
        data = ScaleDownSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return accepted(scaling.start_scale_down(request.user, cluster, **data.validated_data))
