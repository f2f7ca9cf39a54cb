"""Fleet bindings and usage as the allocation detail API shows them."""
from rest_framework import serializers

from ..models import AllocationBinding


class AllocationBindingSerializer(serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    node = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = AllocationBinding
        fields = ["kind", "name", "cluster", "node", "slurm_nodes", "gpu_indexes", "devices", "login", "accounts",
                  "users", "goal", "state", "applied_end", "detail", "attempts", "updated_at"]
        read_only_fields = fields
