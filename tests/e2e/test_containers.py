"""The container files, checked with what this machine has (no container
engine runs here): compose's structure and health gating, the Dockerfile's
instructions and the runtime package list it installs."""
import os
import re
import subprocess

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BIN = os.environ.get("SEALAUTH_BIN", os.path.join(ROOT, "build", "sealauth"))


def compose():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


def test_compose_gates_sealauth_on_healthy_backends():
    c = compose()
    services = c["services"]
    assert set(services) == {"sealauth", "postgres", "redis"}
    for name, svc in services.items():
        assert svc.get("restart") in ("unless-stopped", "always"), name
        hc = svc.get("healthcheck")
        assert hc and hc["test"][0] == "CMD" and len(hc["test"]) > 1, name
    deps = services["sealauth"]["depends_on"]
    assert deps == {"postgres": {"condition": "service_healthy"},
                    "redis": {"condition": "service_healthy"}}
    env = services["sealauth"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["DATABASE_URL"].split("@")[1].startswith("postgres:")
    assert env["REDIS_URL"].startswith("redis://redis:")
    # Every named volume a service mounts is declared.
    for svc in services.values():
        for v in svc.get("volumes", []):
            name = v.split(":")[0]
            if not name.startswith(("/", ".")):
                assert name in c["volumes"], name


def dockerfile():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    return [l.strip() for l in text.splitlines()
            if l.strip() and not l.lstrip().startswith("#")]


def test_dockerfile_instructions():
    lines = dockerfile()
    known = {"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE",
             "HEALTHCHECK", "ENTRYPOINT", "CMD", "ARG"}
    for l in lines:
        assert l.split()[0] in known, l
    # Files copied from the context exist.
    for l in lines:
        m = re.match(r"COPY (?!--from)(\S+) ", l)
        if m and m.group(1) != ".":
            assert os.path.exists(os.path.join(ROOT, m.group(1))), l
    # The scripts it runs exist and are executable.
    for script in re.findall(r"scripts/[a-z-]+", " ".join(lines)):
        path = os.path.join(ROOT, script)
        assert os.access(path, os.X_OK), script
    users = [l.split()[1] for l in lines if l.startswith("USER ")]
    assert users and users[-1] != "root"
    assert any(l.startswith("HEALTHCHECK ") for l in lines)
    assert lines[-1].startswith("ENTRYPOINT")


def test_runtime_packages_are_exactly_what_the_binary_links():
    out = subprocess.run([os.path.join(ROOT, "scripts", "runtime-deps"), BIN],
                         capture_output=True, text=True, timeout=60, check=True)
    pkgs = out.stdout.split()
    # libcurl4 and libpq5 too, though the binary opens their libraries on
    # first use instead of linking them.
    for must in ("libmicrohttpd12", "libjansson4", "libpq5", "libcurl4",
                 "libc6"):
        assert must in pkgs
    dynamic = subprocess.run(["readelf", "-d", BIN], capture_output=True,
                             text=True, check=True).stdout
    needed = dynamic.count("(NEEDED)")
    assert "libcurl" not in dynamic
    # One package per library at most, and every package installed.
    assert 0 < len(pkgs) <= needed + 2
    for p in pkgs:
        st = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                            capture_output=True, text=True)
        assert "install ok installed" in st.stdout, p


def build_option(name):
    """The value of a CMake option in the cache of the build BIN is from."""
    cache = os.path.join(os.path.dirname(os.path.abspath(BIN)),
                         "CMakeCache.txt")
    with open(cache) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.strip().split("=", 1)[1]
    return None


def test_the_binary_allocates_through_jemalloc_unless_built_without():
    """jemalloc is linked into the server (not into sanitizer or fuzzing
    builds, which bring allocators of their own): asked through its own
    variable, it prints its statistics at exit; glibc's does not know
    the variable."""
    want = (build_option("SEALAUTH_JEMALLOC") == "ON"
            and build_option("SEALAUTH_SANITIZE") != "ON"
            and build_option("SEALAUTH_FUZZ") != "ON")
    r = subprocess.run([BIN, "--version"], capture_output=True, text=True,
                       timeout=60,
                       env={**os.environ, "MALLOC_CONF": "stats_print:true"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("sealauth ")
    assert ("jemalloc statistics" in r.stderr) == want, r.stderr[:200]
