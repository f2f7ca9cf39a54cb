"""python -m aimatrix_agent --url URL --token-file FILE [--interval 30] [--buffer-dir DIR]
                           [--buffer-max-bytes N] [--once]

Exit codes: 0 done (--once: everything delivered); 2 bad arguments or token file;
69 no GPU source (neither NVML nor nvidia-smi); 75 (--once) batches left buffered, portal
unreachable; 77 the portal refused the credential (revoked) or the enrollment token.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .agent import Agent, CredentialRevoked, NoGpuSource, enroll, open_gpu_source
from .buffer import DiskBuffer
from .procfs import NodeSampler
from .push import Unreachable

EXIT_USAGE, EXIT_NO_GPU_SOURCE, EXIT_BUFFERED, EXIT_REVOKED = 2, 69, 75, 77
logger = logging.getLogger("aimatrix_agent")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m aimatrix_agent",
                                     description="Push GPU and node telemetry to the AI Infra Matrix portal.")
    parser.add_argument("--url", required=True, help="portal base URL, e.g. https://portal.example.org")
    parser.add_argument("--token-file", required=True,
                        help="file holding the node credential, or the one-time enrollment token from the node "
                             "page (exchanged on first start; the file then holds the credential)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between batches (default 30)")
    parser.add_argument("--buffer-dir", default="/var/lib/aimatrix-agent/buffer",
                        help="where batches wait while the portal is unreachable")
    parser.add_argument("--buffer-max-bytes", type=int, default=256 * 1024 * 1024,
                        help="buffer size cap; past it the oldest batches are dropped (default 256 MiB)")
    parser.add_argument("--deadline", type=float, default=30.0, help="wall-clock limit of one request (s)")
    parser.add_argument("--ca-file", help="CA bundle that signed the portal's TLS certificate (default: the system's)")
    parser.add_argument("--gpu-source", choices=("auto", "nvml", "nvidia-smi"), default="auto")
    parser.add_argument("--once", action="store_true", help="collect one batch, push what is buffered, exit")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    if args.interval <= 0 or args.buffer_max_bytes <= 0 or args.deadline <= 0:
        parser.error("--interval, --buffer-max-bytes and --deadline must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s aimatrix-agent %(levelname)s %(message)s")
    try:
        buffer = DiskBuffer(args.buffer_dir, args.buffer_max_bytes)
        source = open_gpu_source(args.buffer_dir, args.gpu_source)
    except NoGpuSource as exc:
        logger.error("%s", exc)
        return EXIT_NO_GPU_SOURCE
    except OSError as exc:
        logger.error("cannot use the buffer directory %s: %s", args.buffer_dir, exc)
        return EXIT_USAGE
    logger.info("reading GPUs through %s", source.name)
    try:
        credential = enroll(args.url, args.token_file, args.deadline, ca_file=args.ca_file)
    except (OSError, ValueError) as exc:
        logger.error("token file: %s", exc)
        return EXIT_USAGE
    except CredentialRevoked as exc:
        logger.error("%s", exc)
        return EXIT_REVOKED
    except Unreachable as exc:
        logger.error("portal unreachable while enrolling (%s); start the agent again when it answers", exc)
        return EXIT_BUFFERED
    agent = Agent(args.url, credential, buffer, source, NodeSampler(), deadline_s=args.deadline, ca_file=args.ca_file)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        if args.once:
            _delivered, left = agent.cycle()
            return EXIT_BUFFERED if left else 0
        agent.run(args.interval, stop)
        return 0
    except CredentialRevoked as exc:
        logger.error("%s", exc)
        return EXIT_REVOKED
    finally:
        source.close()
        logger.info("collected %d, delivered %d, refused %d, dropped for the size cap %d, still buffered %d",
                    agent.counts["collected"], agent.counts["delivered"], agent.counts["rejected"],
                    buffer.dropped, len(buffer.pending()))


if __name__ == "__main__":
    sys.exit(main())
