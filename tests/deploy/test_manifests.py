"""deploy/k8s: every overlay builds and validates offline; broken manifests are rejected; the
KafkaTopics match the code's topic list.

Needs the tools from `bash scripts/k8s/install-tools.sh` (kustomize in .local/bin, kubernetes-validate
and checkov in .local/k8s-venv). Without them the tests skip with that instruction, except under CI
(`CI` set), where a missing tool is a failure: the Makefile installs them before the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.k8s import K8S_DIR, OVERLAYS, TOOLS_PY, build, require_tools

ROOT = Path(__file__).resolve().parents[2]
VALIDATE = ROOT / "scripts" / "k8s" / "validate.py"


def _validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tools()
    return subprocess.run(
        [str(TOOLS_PY), str(VALIDATE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# ---- (a) every overlay builds and passes schemas, policy and checkov ------------------------


def test_every_overlay_validates() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)
    proc = _validate()
    assert proc.returncode == 0, f"validate.py failed:\n{proc.stdout}\n{proc.stderr}"
    for overlay in OVERLAYS:
        assert f"overlay {overlay}:" in proc.stdout
    assert "checkov (" in proc.stdout and "0 failed" in proc.stdout


# ---- (b) deliberately broken manifests are rejected -----------------------------------------


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s and config/ at the same relative places, to add broken overlays to."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(K8S_DIR, root / "deploy" / "k8s")
    shutil.copytree(ROOT / "config", root / "config")
    return root


_DEPLOYMENT_PATCH = """
  - target:
      kind: Deployment
      name: referral-bus-intake
    patch: |-
{ops}
"""

BROKEN: dict[str, tuple[str, str, str]] = {
    # name: (extra kustomization text, extra resource file content, expected message)
    "no-limits": (
        _DEPLOYMENT_PATCH.format(
            ops="      - op: remove\n        path: /spec/template/spec/containers/0/resources/limits"
        ),
        "",
        "no resources.limits.cpu",
    ),
    "latest-image": (
        "images:\n  - name: registry.example.org/referral-bus/referral-bus\n    newTag: latest\n",
        "",
        "uses the moving tag 'latest'",
    ),
    "writable-root": (
        _DEPLOYMENT_PATCH.format(
            ops="      - op: replace\n"
            "        path: /spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem\n"
            "        value: false"
        ),
        "",
        "readOnlyRootFilesystem must be true",
    ),
    "no-readiness-probe": (
        _DEPLOYMENT_PATCH.format(
            ops="      - op: remove\n        path: /spec/template/spec/containers/0/readinessProbe"
        ),
        "",
        "no readinessProbe",
    ),
    "secret-with-data": (
        "",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: webhook-secrets\nstringData:\n  webhook-x: hunter2\n",
        "a Secret with data/stringData is committed",
    ),
    "unknown-field": (
        _DEPLOYMENT_PATCH.format(
            ops="      - op: add\n        path: /spec/template/spec/containers/0/resource\n        value: {}"
        ),
        "",
        "'resource' was unexpected",
    ),
    "hpa-beyond-partitions": (
        "  - target:\n      kind: HorizontalPodAutoscaler\n      name: referral-bus-routing\n"
        "    patch: |-\n      - op: replace\n        path: /spec/maxReplicas\n        value: 50\n",
        "",
        "maxReplicas 50 > 12 partitions",
    ),
    "alert-without-runbook": (
        "  - target:\n      kind: PrometheusRule\n      name: referral-bus\n"
        "    patch: |-\n      - op: remove\n        path: /spec/groups/0/rules/0/annotations/runbook_url\n",
        "",
        "alert ReferralNotDeliveredWithinSLA: no annotations.runbook_url",
    ),
    "alert-rule-typo": (
        "  - target:\n      kind: PrometheusRule\n      name: referral-bus\n"
        "    patch: |-\n      - op: add\n        path: /spec/groups/0/rules/0/fro\n        value: 5m\n",
        "",
        "PrometheusRule schema: spec/groups/0/rules/0: Additional properties are not allowed ('fro' was unexpected)",
    ),
    "strimzi-typo": (
        "  - target:\n      kind: KafkaTopic\n      name: referrals.cases.v1\n"
        "    patch: |-\n      - op: add\n        path: /spec/replica\n        value: 3\n",
        "",
        "spec/replica: unknown field",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_overlay_is_rejected(scratch_repo: Path, case: str) -> None:
    extra_kustomization, extra_resource, expected = BROKEN[case]
    overlay = scratch_repo / "deploy" / "k8s" / "overlays" / f"broken-{case}"
    overlay.mkdir()
    resources = ["../prod"]
    if extra_resource:
        (overlay / "extra.yaml").write_text(extra_resource)
        resources.append("extra.yaml")
    text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
    text += "".join(f"  - {r}\n" for r in resources)
    if extra_kustomization.lstrip().startswith("- target"):
        text += "patches:\n" + extra_kustomization.lstrip("\n")
    else:
        text += extra_kustomization
    (overlay / "kustomization.yaml").write_text(text)

    proc = _validate("--k8s-dir", scratch_repo / "deploy" / "k8s", "--overlay", overlay.name, "--no-checkov")
    assert proc.returncode != 0, f"{case}: broken overlay was accepted:\n{proc.stdout}"
    assert expected in proc.stderr, f"{case}: expected {expected!r} in:\n{proc.stderr}"


def test_scratch_copy_of_prod_passes(scratch_repo: Path) -> None:
    """The copy the broken overlays start from is valid: each rejection above is its breakage."""
    proc = _validate("--k8s-dir", scratch_repo / "deploy" / "k8s", "--overlay", "prod", "--no-checkov")
    assert proc.returncode == 0, proc.stderr


def test_checkov_rejects_a_finding_without_suppression(scratch_repo: Path) -> None:
    """checkov is wired in: dropping capabilities is removed and no annotation suppresses it."""
    overlay = scratch_repo / "deploy" / "k8s" / "overlays" / "broken-checkov"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../prod\npatches:"
        + _DEPLOYMENT_PATCH.format(
            ops="      - op: replace\n"
            "        path: /spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation\n"
            "        value: true"
        )
    )
    proc = _validate("--k8s-dir", scratch_repo / "deploy" / "k8s", "--overlay", overlay.name)
    assert proc.returncode != 0
    assert "[checkov]" in proc.stderr and "CKV_K8S_20" in proc.stderr, proc.stderr


# ---- (c) the manifests and the code's topic list do not drift -------------------------------


def _code_topics() -> dict[str, Any]:
    """Every topic from the one source (referral_domain.agency_topics.declared), by name."""
    sys.path.insert(0, str(ROOT))
    from referral_domain.agencies import load_agencies
    from referral_domain.agency_topics import declared
    from referral_domain.directory import load_directory

    registry = load_agencies(ROOT / "config" / "agencies.yaml")
    return {spec.name: spec for spec in declared(registry, load_directory(ROOT / "config" / "recipients.yaml"))}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_match_the_code(overlay: str) -> None:
    from referral_bus import topics

    objects = build(K8S_DIR / "overlays" / overlay)
    declared = {o["spec"].get("topicName", o["metadata"]["name"]): o for o in objects if o["kind"] == "KafkaTopic"}
    code = _code_topics()
    missing = sorted(set(code) - set(declared))
    extra = sorted(set(declared) - set(code))
    assert not missing and not extra, (
        f"[{overlay}] KafkaTopics drifted from referral_domain/agency_topics.py (+ config/agencies.yaml): "
        f"missing {missing}, not in the code {extra}. Run `.venv/bin/python scripts/k8s/gen_topics.py`."
    )
    for name, spec in code.items():
        config = declared[name]["spec"].get("config", {})
        policy = "compact,delete" if spec.compacted else "delete"
        assert config.get("cleanup.policy") == policy, f"[{overlay}] {name}: cleanup.policy != {policy}"
        assert int(config.get("retention.ms", -1)) == spec.retention_ms, f"[{overlay}] {name}: retention.ms"
        annotations = declared[name]["metadata"]["annotations"]
        assert annotations["referral-bus/sensitivity"] == spec.sensitivity, f"[{overlay}] {name}: sensitivity"

    # Every shared code topic is in some service's ACLs (a new topic without an ACL would fail at run time).
    acl_topics = {
        acl["resource"]["name"]
        for o in objects
        if o["kind"] == "KafkaUser" and o["metadata"]["name"].startswith("referral-bus-")
        for acl in o["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == "topic" and acl["resource"].get("patternType", "literal") == "literal"
    }
    shared = {t.name for t in topics.ALL}
    assert not shared - acl_topics, f"[{overlay}] no service ACL for {sorted(shared - acl_topics)}"

    # Agencies write only their own intake topic (and their recipients' ack topics); none writes a shared topic.
    for user in (
        o for o in objects if o["kind"] == "KafkaUser" and not o["metadata"]["name"].startswith("referral-bus-")
    ):
        agency = user["metadata"]["annotations"]["referral-bus/agency"]
        writes = {
            acl["resource"]["name"]
            for acl in user["spec"]["authorization"]["acls"]
            if "Write" in acl["operations"] or "All" in acl["operations"]
        }
        assert topics.intake_topic(agency) in writes, user["metadata"]["name"]
        assert all(w == topics.intake_topic(agency) or w.startswith(topics.ACKS_PREFIX) for w in writes), writes
        assert not writes & shared, f"{user['metadata']['name']} may write {sorted(writes & shared)}"
        # ... and read its own status topic, no other agency's (docs/lifecycle.md)
        status_reads = {
            acl["resource"]["name"]
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["name"].startswith(topics.STATUS_PREFIX)
        }
        assert status_reads == {topics.status_topic(agency)}, (user["metadata"]["name"], status_reads)


def test_generated_topics_file_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "k8s" / "gen_topics.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
