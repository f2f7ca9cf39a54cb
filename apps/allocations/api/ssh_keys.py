"""GET/POST /api/v1/allocations/ssh-keys/: your own SSH public keys (installed on standalone nodes
while your allocations there are active). POST {name, public_key}: 201 with the stored key
(comment dropped, fingerprint); 400 names the field."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import ssh_keys


class SshKeySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    public_key = serializers.CharField(max_length=16000)
    fingerprint = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class SshKeysView(APIView):
    permission_classes = [IsAuthenticated]
    serializer_class = SshKeySerializer

    @extend_schema(responses={200: SshKeySerializer(many=True)})
    def get(self, request):
        rows = SshKeySerializer(ssh_keys.user_keys(request.user), many=True).data
        return Response({"count": len(rows), "results": rows})

    @extend_schema(request=SshKeySerializer, responses={201: SshKeySerializer})
    def post(self, request):
        given = SshKeySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        key = ssh_keys.add_key(request.user, **given.validated_data)
        return Response(SshKeySerializer(key).data, status=status.HTTP_201_CREATED)
