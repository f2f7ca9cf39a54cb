"""The production image contains every program the code it ships starts (no Docker engine here:
docker/Dockerfile's apt lines are read, and the code is searched for process starts)."""
import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "docker" / "Dockerfile"
# What the image copies (see the COPY lines of docker/Dockerfile).
SHIPPED_CODE = ["manage.py", "aimatrix", "apps", "docker/healthcheck.py"]

# Every shipped module that starts a process, the programs it starts and their Debian packages.
# A new module that starts a process fails test_every_process_start_is_declared until it is
# listed here, and then test_the_image_installs_every_program until the Dockerfile installs it.
PROGRAMS = {
    "apps/nodes/ipmi.py": {"ipmitool": "ipmitool"},
}

PROCESS_CALLS = {
    "subprocess": {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"},
    "os": {"system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
           "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe",
           "posix_spawn", "posix_spawnp"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "pty": {"spawn"},
}


def _shipped_modules():
    for entry in SHIPPED_CODE:
        path = REPO / entry
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _starts_processes(tree: ast.AST) -> bool:
    imported = {}  # local name -> (module, function) for `from subprocess import run`
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in PROCESS_CALLS:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.attr in PROCESS_CALLS.get(func.value.id, ()):
                return True
        if isinstance(func, ast.Name) and func.id in imported:
            module, name = imported[func.id]
            if name in PROCESS_CALLS[module]:
                return True
    return False


def _string_constants(tree: ast.AST) -> set[str]:
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_every_process_start_is_declared():
    found = {}
    for path in _shipped_modules():
        tree = ast.parse(path.read_text(), str(path))
        if _starts_processes(tree):
            found[str(path.relative_to(REPO))] = _string_constants(tree)
    assert set(found) == set(PROGRAMS), (
        f"modules that start processes: {sorted(found)}; declared in tests/test_docker_image.py: {sorted(PROGRAMS)}")
    for module, programs in PROGRAMS.items():
        for program in programs:
            assert program in found[module], f"{module} never names {program!r}; the declaration is stale"


def _instructions(dockerfile: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def image_packages(dockerfile: str) -> set[str]:
    """Debian packages left installed by the RUN lines: installs minus later purges/removes."""
    installed: set[str] = set()
    for instruction in _instructions(dockerfile):
        if not instruction.startswith("RUN "):
            continue
        for command in re.split(r"&&|;|\|\|", instruction[4:]):
            words = shlex.split(command)
            if len(words) < 2 or words[0] not in {"apt-get", "apt"}:
                continue
            packages = {w for w in words[2:] if not w.startswith("-")}
            if words[1] == "install":
                installed |= packages
            elif words[1] in {"purge", "remove"}:
                installed -= packages
    return installed


def test_image_package_parser():
    sample = "RUN apt-get update \\\n && apt-get install -y a b \\\n && apt-get purge -y a && apt-get install -y c\n"
    assert image_packages(sample) == {"b", "c"}


def test_the_image_installs_every_program():
    packages = image_packages(DOCKERFILE.read_text())
    wanted = {program: package for programs in PROGRAMS.values() for program, package in programs.items()}
    missing = {program: package for program, package in wanted.items() if package not in packages}
    assert not missing, f"docker/Dockerfile does not install {missing} (program: Debian package)"


@pytest.mark.parametrize("program, package", [pair for programs in PROGRAMS.values() for pair in programs.items()])
def test_the_declared_package_provides_the_program(program, package):
    """Checked against this machine's dpkg database where the program is installed (the test
    profile of scripts/install.sh installs them all)."""
    path = shutil.which(program)
    if path is None or shutil.which("dpkg-query") is None:
        pytest.skip(f"{program} is not installed here")
    owner = subprocess.run(["dpkg-query", "-S", str(Path(path).resolve())], capture_output=True, text=True)
    assert owner.returncode == 0, owner.stderr
    assert owner.stdout.split(":", 1)[0] == package, owner.stdout
