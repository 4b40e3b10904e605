#!/usr/bin/env python3
"""Build and validate every kustomize overlay of deploy/k8s, offline.

    bash scripts/k8s/install-tools.sh                 # once: kustomize, kubernetes-validate, checkov
    .local/k8s-venv/bin/python scripts/k8s/validate.py [--overlay dev] [--no-checkov]

For each overlay under deploy/k8s/overlays/ (or those named with --overlay):

1. `kustomize build --load-restrictor LoadRestrictionsNone` (the routing ConfigMap is generated from
   the repo's config/ folder, outside deploy/k8s);
2. every core Kubernetes object is validated against the Kubernetes OpenAPI schemas shipped by
   kubernetes-validate (strict: unknown fields fail), every Strimzi object against the
   openAPIV3Schema of the CRDs vendored in deploy/k8s/crds/strimzi/ (jsonschema), every
   PrometheusRule against PROMETHEUS_RULE_SCHEMA below (strict; each alert has a severity, a summary
   and a runbook_url);
3. policy checks: every container has requests and limits, liveness/readiness probes, runs as
   non-root with a read-only root filesystem, no privilege escalation, all capabilities dropped,
   seccomp RuntimeDefault, a pinned image tag (never `latest`); no Secret carries data; no
   service-account token is mounted; each Deployment has its PDB, HPA, Service and ServiceAccount;
   the HPA maximum does not exceed the topics' partitions; topic settings agree with the
   workers' KAFKA_TOPIC_* settings and the broker count;
4. one checkov run over all built overlays and the Dockerfile (accepted findings are suppressed in
   place, with their reason, as `checkov.io/skipN` annotations or `# checkov:skip=` comments).

Prints the objects of each overlay. Exits 1 on any failure, naming the overlay, object and rule.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
K8S_VENV_PY = LOCAL / "k8s-venv" / "bin" / "python"
INSTALL_HINT = "run `bash scripts/k8s/install-tools.sh` first"

try:
    import jsonschema
    import kubernetes_validate
    import yaml
except ImportError:  # re-run under the tools' venv when started with another Python
    if K8S_VENV_PY.exists() and Path(sys.executable).resolve() != K8S_VENV_PY.resolve():
        os.execv(str(K8S_VENV_PY), [str(K8S_VENV_PY), __file__, *sys.argv[1:]])  # noqa: S606 - our own venv's python
    sys.exit(f"validate.py: kubernetes-validate/jsonschema/pyyaml not importable: {INSTALL_HINT}")

DEFAULT_K8S_DIR = ROOT / "deploy" / "k8s"
# The oldest Kubernetes minor the manifests support (preStop `sleep`, matchLabelKeys need >= 1.30).
DEFAULT_KUBERNETES_VERSION = "1.31.0"
STRIMZI_GROUP = "kafka.strimzi.io"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
PARTNER_TOPIC = re.compile(r"^referrals\.partner\.[a-z0-9][a-z0-9-]*\.v1$")


@dataclass
class Report:
    """Failures and notes of one overlay."""

    overlay: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    external_secrets: set[str] = field(default_factory=set)

    def fail(self, obj: dict[str, Any] | None, message: str) -> None:
        """Record one failure against an object (or the overlay as a whole)."""
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}" if obj else "-"
        self.failures.append(f"[{self.overlay}] {where}: {message}")


def ident(obj: dict[str, Any]) -> str:
    """Kind/name of an object."""
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def kustomize_bin() -> str:
    """Path of the kustomize binary (KUSTOMIZE or .local/bin/kustomize)."""
    candidate = os.environ.get("KUSTOMIZE") or str(LOCAL / "bin" / "kustomize")
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    sys.exit(f"validate.py: kustomize not found at {candidate}: {INSTALL_HINT}")


def build(overlay_dir: Path) -> str:
    """The overlay's manifests as kustomize builds them."""
    proc = subprocess.run(
        [kustomize_bin(), "build", "--load-restrictor", "LoadRestrictionsNone", str(overlay_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize build {overlay_dir} failed:\n{proc.stderr.strip()}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------


def load_crd_schemas(crd_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of every CRD in crd_dir."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def schema_errors(obj: dict[str, Any], schema: dict[str, Any], what: str, report: Report) -> None:
    """Report every place where `obj` breaks `schema` (JSON Schema draft 7), as `<what>: <path>: <message>`."""
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        report.fail(obj, f"{what}: {path}: {error.message}")


def validate_strimzi(obj: dict[str, Any], schemas: dict[tuple[str, str], dict[str, Any]], report: Report) -> None:
    """Check a Strimzi object against its vendored CRD schema, strictly."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    schema = schemas.get(key)
    if schema is None:
        report.fail(obj, f"no vendored Strimzi CRD serves {key[0]} {key[1]} (deploy/k8s/crds/strimzi/)")
        return
    schema_errors(obj, schema, "Strimzi schema", report)
    for path in unknown_fields(obj, schema):
        report.fail(obj, f"Strimzi schema: {path}: unknown field (the API server would silently prune it)")
    if obj["kind"] != "Kafka" and not obj.get("metadata", {}).get("labels", {}).get("strimzi.io/cluster"):
        report.fail(obj, "missing label strimzi.io/cluster (the operators ignore it)")


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Paths of fields the structural schema does not declare.

    Kubernetes prunes them without an error, so a typo in a CR (e.g. `replica:`) would silently do
    nothing. Strict, like kubernetes-validate's strict mode.
    """
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            sub = schema["properties"].get(key)
            if sub is None:
                if not isinstance(schema.get("additionalProperties"), dict):
                    yield f"{path}/{key}".lstrip("/")
            else:
                yield from unknown_fields(item, sub, f"{path}/{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            yield from unknown_fields(item, schema["additionalProperties"], f"{path}/{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}/{index}")


PROMETHEUS_GROUP = "monitoring.coreos.com"
_UNITS = ("y", "w", "d", "h", "m", "s", "ms")
_DURATION = {"type": "string", "pattern": "^(0|" + "".join(f"([0-9]+{u})?" for u in _UNITS) + ")$"}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
# The fields of the Prometheus Operator's PrometheusRule (monitoring.coreos.com/v1) we may use, strictly.
# The rules' content (PromQL, templates) is checked by `promtool check rules` / `test rules`
# (tests/deploy/test_alerts.py); this catches a misspelt or misplaced field the API server would reject.
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "query_offset": _DURATION,
                            "limit": {"type": "integer", "minimum": 0},
                            "labels": _STRINGS,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "additionalProperties": False,
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string", "minLength": 1},
                                        "record": {"type": "string", "minLength": 1},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": _STRINGS,
                                        "annotations": _STRINGS,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}
SEVERITIES = {"critical", "warning", "info"}


def validate_prometheus_rule(obj: dict[str, Any], report: Report) -> None:
    """A PrometheusRule: its fields (strict), and every alert with a severity, a summary and a runbook."""
    if obj.get("kind") != "PrometheusRule":
        report.fail(obj, f"no schema for {obj.get('apiVersion')} {obj.get('kind')} (only PrometheusRule is checked)")
        return
    schema_errors(obj, PROMETHEUS_RULE_SCHEMA, "PrometheusRule schema", report)
    for group in obj.get("spec", {}).get("groups", []) or []:
        for rule in group.get("rules", []) or []:
            if "alert" not in rule:
                continue
            where = f"alert {rule['alert']}"
            if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
                report.fail(obj, f"{where}: labels.severity must be one of {sorted(SEVERITIES)}")
            for key in ("summary", "runbook_url"):
                if not (rule.get("annotations") or {}).get(key):
                    report.fail(obj, f"{where}: no annotations.{key}")


def validate_core(obj: dict[str, Any], kubernetes_version: str, report: Report) -> None:
    """Check a core object against the Kubernetes OpenAPI schema (strict)."""
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "/".join(str(p) for p in error.path) or "(root)"
        report.fail(obj, f"Kubernetes {kubernetes_version} schema: {path}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError as error:
        report.fail(obj, f"no Kubernetes {kubernetes_version} schema for it: {error}")


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload, or None for other kinds."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec", {})
    if kind == "CronJob":
        return obj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    if kind in WORKLOAD_KINDS:
        return obj.get("spec", {}).get("template", {}).get("spec", {})
    return None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    """Labels its pods carry."""
    if obj.get("kind") == "Pod":
        return obj.get("metadata", {}).get("labels", {}) or {}
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def image_pinned(image: str) -> str | None:
    """None if the image reference is pinned, else why not."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (would pull `latest`)"
    tag = last.rsplit(":", 1)[1]
    if tag in {"latest", "main", "master", "stable", "edge", "dev"}:
        return f"image {image!r} uses the moving tag {tag!r}"
    return None


def check_workload(obj: dict[str, Any], report: Report) -> None:
    """Container policy: resources, probes, security context, pinned image, no literal secrets."""
    spec = pod_spec(obj)
    if spec is None:
        return
    pod_sc = spec.get("securityContext", {}) or {}
    if spec.get("automountServiceAccountToken") is not False:
        report.fail(obj, "pod spec must set automountServiceAccountToken: false")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        report.fail(obj, "host namespaces are not allowed")
    if obj["kind"] == "Deployment":
        if (spec.get("terminationGracePeriodSeconds") or 30) < 30:
            report.fail(
                obj, "terminationGracePeriodSeconds < 30: a Faust worker needs time to commit and leave its group"
            )
        if not spec.get("topologySpreadConstraints"):
            report.fail(obj, "no topologySpreadConstraints")
    containers = [("container", c) for c in spec.get("containers", []) or []]
    containers += [("initContainer", c) for c in spec.get("initContainers", []) or []]
    for role, container in containers:
        name = f"{role} {container.get('name')!r}"
        resources = container.get("resources", {}) or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(section) or {}):
                    report.fail(obj, f"{name}: no resources.{section}.{resource}")
        if role == "container":
            for probe in ("livenessProbe", "readinessProbe"):
                if not container.get(probe):
                    report.fail(obj, f"{name}: no {probe}")
        sc = container.get("securityContext", {}) or {}
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        run_as_user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if run_as_non_root is not True:
            report.fail(obj, f"{name}: securityContext.runAsNonRoot must be true")
        if run_as_user == 0:
            report.fail(obj, f"{name}: runAsUser 0 (root)")
        if sc.get("readOnlyRootFilesystem") is not True:
            report.fail(obj, f"{name}: securityContext.readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            report.fail(obj, f"{name}: securityContext.allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            report.fail(obj, f"{name}: privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            report.fail(obj, f"{name}: securityContext.capabilities.drop must include ALL")
        if (sc.get("capabilities") or {}).get("add"):
            report.fail(obj, f"{name}: adds capabilities {sc['capabilities']['add']}")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            report.fail(obj, f"{name}: seccompProfile must be RuntimeDefault")
        image = container.get("image", "")
        why = image_pinned(image)
        if why:
            report.fail(obj, f"{name}: {why}")
        for env in container.get("env", []) or []:
            if "value" in env and re.search(r"(PASSWORD|SECRET|TOKEN)$", env.get("name", "")):
                report.fail(obj, f"{name}: {env['name']} has a literal value; reference a Secret")
    for volume in spec.get("volumes", []) or []:
        if "hostPath" in volume:
            report.fail(obj, f"volume {volume.get('name')!r} is a hostPath")


def referenced_secrets(obj: dict[str, Any]) -> Iterator[str]:
    """Names of the Secrets a workload mounts or reads."""
    spec = pod_spec(obj) or {}
    for volume in spec.get("volumes", []) or []:
        if "secret" in volume:
            yield volume["secret"]["secretName"]
    for container in (spec.get("containers", []) or []) + (spec.get("initContainers", []) or []):
        for env in container.get("env", []) or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                yield ref["name"]
        for env_from in container.get("envFrom", []) or []:
            if "secretRef" in env_from:
                yield env_from["secretRef"]["name"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def check_overlay(objects: list[dict[str, Any]], report: Report) -> None:
    """Policy across the objects of one overlay."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj.get("kind", ""), []).append(obj)
    names = {ident(o) for o in objects}

    # Secrets: never with data in git. Those the workloads reference must exist on the cluster.
    for secret in by_kind.get("Secret", []):
        if secret.get("data") or secret.get("stringData"):
            report.fail(secret, "a Secret with data/stringData is committed; reference it, create it out of band")
    for obj in objects:
        check_workload(obj, report)
        report.external_secrets.update(s for s in referenced_secrets(obj) if f"Secret/{s}" not in names)
        spec = pod_spec(obj) or {}
        for volume in spec.get("volumes", []) or []:
            cm = (volume.get("configMap") or {}).get("name")
            if cm and f"ConfigMap/{cm}" not in names:
                report.fail(obj, f"volume {volume['name']!r} mounts ConfigMap {cm!r}, which the overlay does not build")
        for container in spec.get("containers", []) or []:
            for env_from in container.get("envFrom", []) or []:
                cm = (env_from.get("configMapRef") or {}).get("name")
                if cm and f"ConfigMap/{cm}" not in names:
                    report.fail(obj, f"envFrom ConfigMap {cm!r} is not built by the overlay")

    # Every worker Deployment has its companions.
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", [])}
    service_accounts = {s["metadata"]["name"]: s for s in by_kind.get("ServiceAccount", [])}
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        labels = pod_labels(deployment)
        spec = pod_spec(deployment) or {}
        if name not in hpas:
            report.fail(deployment, "no HorizontalPodAutoscaler targets it")
        if not any(selects(p["spec"].get("selector", {}), labels) for p in by_kind.get("PodDisruptionBudget", [])):
            report.fail(deployment, "no PodDisruptionBudget selects its pods")
        if not any(
            s["spec"].get("selector") and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
            for s in by_kind.get("Service", [])
        ):
            report.fail(deployment, "no Service selects its pods (metrics)")
        if not any(selects(n["spec"].get("podSelector", {}), labels) for n in by_kind.get("NetworkPolicy", [])):
            report.fail(deployment, "no NetworkPolicy selects its pods")
        sa = spec.get("serviceAccountName")
        if not sa or sa == "default":
            report.fail(deployment, "runs as the default ServiceAccount")
        elif sa not in service_accounts:
            report.fail(deployment, f"ServiceAccount {sa!r} is not built by the overlay")
        elif service_accounts[sa].get("automountServiceAccountToken") is not False:
            report.fail(service_accounts[sa], "automountServiceAccountToken must be false")
        if "replicas" in deployment.get("spec", {}) and name in hpas:
            report.fail(deployment, "sets spec.replicas although an HPA owns the count (every apply would reset it)")

    # Kafka: the workers' topic settings, the KafkaTopics and the brokers must agree.
    env: dict[str, str] = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("referral-bus-env"):
            env = cm.get("data", {}) or {}
    partitions = int(env.get("KAFKA_TOPIC_PARTITIONS", "0") or 0)
    replication = int(env.get("KAFKA_TOPIC_REPLICATION_FACTOR", "0") or 0)
    brokers = sum(
        int(pool["spec"].get("replicas", 0))
        for pool in by_kind.get("KafkaNodePool", [])
        if "broker" in (pool["spec"].get("roles") or [])
    )
    clusters = {k["metadata"]["name"] for k in by_kind.get("Kafka", [])}
    if by_kind.get("Kafka") and not brokers:
        report.fail(None, "a Kafka cluster without any KafkaNodePool with the broker role")
    for pool in by_kind.get("KafkaNodePool", []):
        limits = (pool["spec"].get("resources") or {}).get("limits") or {}
        if "memory" not in limits:
            report.fail(pool, "no resources.limits.memory")
    for kafka in by_kind.get("Kafka", []):
        config = kafka["spec"]["kafka"].get("config") or {}
        if str(config.get("auto.create.topics.enable", "")).lower() != "false":
            report.fail(kafka, "auto.create.topics.enable must be false (topics are KafkaTopic resources)")
        if brokers and int(config.get("default.replication.factor", 1)) > brokers:
            report.fail(kafka, f"default.replication.factor exceeds the {brokers} broker(s)")
    for kind in ("KafkaTopic", "KafkaUser"):
        for obj in by_kind.get(kind, []):
            cluster = obj["metadata"].get("labels", {}).get("strimzi.io/cluster")
            if clusters and cluster not in clusters:
                report.fail(obj, f"strimzi.io/cluster={cluster!r} names no Kafka in this overlay")
    min_partitions = None
    for topic in by_kind.get("KafkaTopic", []):
        spec = topic["spec"]
        name = spec.get("topicName", topic["metadata"]["name"])
        rf = int(spec.get("replicas", 0))
        min_isr = int((spec.get("config") or {}).get("min.insync.replicas", 1))
        if brokers and rf > brokers:
            report.fail(topic, f"replicas {rf} > {brokers} broker(s)")
        if min_isr > rf:
            report.fail(topic, f"min.insync.replicas {min_isr} > replicas {rf}: every write would fail")
        if rf >= 3 and min_isr < 2:
            report.fail(topic, "replication factor >= 3 needs min.insync.replicas >= 2")
        if PARTNER_TOPIC.match(name) or name.endswith("-__assignor-__leader"):
            continue  # partners' topics (consumed by agencies) and Faust's one-partition leader topics
        if partitions and int(spec.get("partitions", 0)) != partitions:
            report.fail(topic, f"partitions {spec.get('partitions')} != KAFKA_TOPIC_PARTITIONS={partitions}")
        if replication and rf != replication:
            report.fail(topic, f"replicas {rf} != KAFKA_TOPIC_REPLICATION_FACTOR={replication}")
        p = int(spec.get("partitions", 0))
        min_partitions = p if min_partitions is None else min(min_partitions, p)
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        bound = min(x for x in (partitions, min_partitions or 0) if x) if (partitions or min_partitions) else 0
        if bound and hpa["spec"]["maxReplicas"] > bound:
            report.fail(hpa, f"maxReplicas {hpa['spec']['maxReplicas']} > {bound} partitions: extra workers would idle")
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            report.fail(hpa, "minReplicas > maxReplicas")


# --------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------


def run_checkov(built: dict[str, str], dockerfile: Path | None, workdir: Path) -> tuple[list[str], list[str]]:
    """(failures, in-place suppressions with their reasons) of one checkov run over everything."""
    checkov = shutil.which("checkov", path=str(Path(sys.executable).parent)) or str(
        LOCAL / "k8s-venv" / "bin" / "checkov"
    )
    if not Path(checkov).exists():
        return [f"checkov not found: {INSTALL_HINT}"], []
    args = [checkov, "--compact", "--output", "json", "--skip-download", "--framework", "kubernetes"]
    files = []
    for overlay, text in built.items():
        path = workdir / f"{overlay}.yaml"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    if dockerfile is not None:
        args += ["dockerfile"]
        files.append(dockerfile)
    for path in files:
        args += ["--file", str(path)]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_NO_OUTPUT_ENCODING="1", LOG_LEVEL="WARNING")
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False, cwd=workdir)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [
            f"checkov did not produce JSON (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        ], []
    failures: list[str] = []
    suppressions: dict[str, int] = {}
    scanned = set()
    for result in data if isinstance(data, list) else [data]:
        if not isinstance(result, dict) or "check_type" not in result:
            continue
        scanned.add(result["check_type"])
        summary = result.get("summary", {})
        if summary.get("parsing_errors"):
            failures.append(
                f"[checkov] {result['check_type']}: {summary['parsing_errors']} file(s) could not be parsed"
            )
        results = result.get("results", {})
        for check in results.get("skipped_checks", []):
            reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
            line = f"{check.get('check_id')} ({check.get('check_name')}): {reason or 'NO REASON'}"
            suppressions[line] = suppressions.get(line, 0) + 1
            if not reason:
                failures.append(
                    f"[checkov] {check.get('resource')}: {check.get('check_id')} suppressed without a reason"
                )
        for check in results.get("failed_checks", []):
            failures.append(
                f"[checkov] {Path(check.get('file_path', '')).name}: {check.get('resource')}: "
                f"{check.get('check_id')} {check.get('check_name')}"
            )
    expected = {"kubernetes"} | ({"dockerfile"} if dockerfile is not None else set())
    if not expected <= scanned:
        failures.append(f"[checkov] scanned {sorted(scanned) or 'nothing'}, expected {sorted(expected)}")
    return failures, [f"{line} [x{count}]" for line, count in sorted(suppressions.items())]


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def validate_overlay(
    overlay_dir: Path, schemas: dict[tuple[str, str], dict[str, Any]], kubernetes_version: str
) -> tuple[Report, str]:
    """Build one overlay and check every object; (report, built YAML)."""
    report = Report(overlay_dir.name)
    try:
        text = build(overlay_dir)
    except RuntimeError as error:
        report.fail(None, str(error))
        return report, ""
    report.objects = [d for d in yaml.safe_load_all(text) if d]
    for obj in report.objects:
        api_version = obj.get("apiVersion", "")
        if api_version.split("/")[0] == STRIMZI_GROUP:
            validate_strimzi(obj, schemas, report)
        elif api_version.split("/")[0] == PROMETHEUS_GROUP:
            validate_prometheus_rule(obj, report)
        else:
            validate_core(obj, kubernetes_version, report)
    check_overlay(report.objects, report)
    return report, text


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k8s-dir", type=Path, default=DEFAULT_K8S_DIR, help="folder with overlays/ and crds/")
    parser.add_argument("--overlay", action="append", help="overlay name (repeatable); default: all")
    parser.add_argument("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION)
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov scan")
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "Dockerfile")
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    args = parser.parse_args(argv)

    k8s_dir = args.k8s_dir.resolve()
    overlays_dir = k8s_dir / "overlays"
    names = args.overlay or sorted(p.name for p in overlays_dir.iterdir() if (p / "kustomization.yaml").exists())
    if not names:
        print(f"validate.py: no overlays under {overlays_dir}", file=sys.stderr)
        return 1
    schemas = load_crd_schemas(k8s_dir / "crds" / "strimzi")
    if not schemas:
        print(f"validate.py: no Strimzi CRDs in {k8s_dir / 'crds' / 'strimzi'}", file=sys.stderr)
        return 1

    failures: list[str] = []
    built: dict[str, str] = {}
    for name in names:
        overlay_dir = overlays_dir / name
        if not (overlay_dir / "kustomization.yaml").exists():
            failures.append(f"[{name}] no such overlay: {overlay_dir}")
            continue
        report, text = validate_overlay(overlay_dir, schemas, args.kubernetes_version)
        failures += report.failures
        if text:
            built[name] = text
        if not args.quiet:
            print(f"overlay {name}: {len(report.objects)} objects")
            for obj in report.objects:
                ns = obj.get("metadata", {}).get("namespace")
                print(f"  {obj.get('apiVersion')} {ident(obj)}" + (f" (ns {ns})" if ns else ""))
            if report.external_secrets:
                print(f"  secrets referenced, created outside git: {', '.join(sorted(report.external_secrets))}")

    if not args.no_checkov and built:
        dockerfile = args.dockerfile if args.dockerfile.exists() else None
        with tempfile.TemporaryDirectory(prefix="k8s-checkov-") as tmp:
            checkov_failures, suppressions = run_checkov(built, dockerfile, Path(tmp))
        failures += checkov_failures
        if not args.quiet:
            print(
                f"checkov ({', '.join(built)}" + (", Dockerfile" if dockerfile else "") + f"): "
                f"{len(checkov_failures)} failed; accepted in place:"
            )
            for line in suppressions:
                print(f"  {line}")

    if failures:
        print(f"\nFAILED: {len(failures)} problem(s)", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(
        f"OK: {', '.join(names)} built and validated (Kubernetes {args.kubernetes_version} schemas, Strimzi CRDs,"
        " policy" + ("" if args.no_checkov else ", checkov") + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
