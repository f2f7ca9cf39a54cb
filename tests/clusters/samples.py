"""Read output samples captured from real Slurm (see samples/README.md)."""
from pathlib import Path

DIR = Path(__file__).resolve().parent / "samples"


def sample(name: str) -> str:
    return (DIR / name).read_text()
