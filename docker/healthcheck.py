"""Container health check: GET /api/health on the local daphne (stdlib only).

Exit 0 when the endpoint answers 200, 1 otherwise (503, refused, timeout).
The Host header is taken from AIMATRIX_ALLOWED_HOSTS so Django does not
reject the probe with DisallowedHost (400) in production.
"""
import os
import sys
import urllib.error
import urllib.request

PORT = os.environ.get("AIMATRIX_HEALTH_PORT", "8000")


def probe_host() -> str:
    for host in os.environ.get("AIMATRIX_ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and host != "*":
            # ".example.com" allows example.com and its subdomains.
            return host.lstrip(".")
    return "localhost"


def main() -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/health",
        headers={"Host": probe_host()},
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"health check failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
