"""The AI Infra Matrix node agent: GPU (NVML, or nvidia-smi) and /proc telemetry pushed to the portal.

No Django here: stdlib plus nvidia-ml-py, so it installs on a GPU node with one command. Run it as
`python -m aimatrix_agent --url URL --token-file FILE`. The record it sends is described in
docs/telemetry-record.md; `nvsmi` is shared with the portal's agentless collection.
"""
