"""Every service has its Deployment, and each gets the secrets it reads mounted where its settings look.

The companions (ServiceAccount, Service, PDB, HPA, NetworkPolicy) are checked for every Deployment by
scripts/k8s/validate.py (test_manifests.py); here: no service is left without a Deployment, the shared
key-encryption key reaches every worker that seals or opens cases, the ledger gets its checkpoint key.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from referral_bus.settings import REPO_ROOT
from tests.support.k8s import K8S_DIR, OVERLAYS, build

SERVICES = sorted(p.name for p in (REPO_ROOT / "services").iterdir() if (p / "app.py").exists())
SEALING = ("intake", "routing", "notifier", "stats", "inbox")  # case-key-kek (docs/data-protection.md)


@cache
def _deployments(overlay: str) -> dict[str, dict[str, Any]]:
    objs = build(K8S_DIR / "overlays" / overlay)
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}


def _secret_file_dir(dep: dict[str, Any], env_name: str, secret: str, key: str) -> None:
    """`env_name` names a folder where the Secret `secret` is mounted with the file `key`."""
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    folder = env.get(env_name)
    assert folder, f"{dep['metadata']['name']}: {env_name} not set"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
    assert len(mounts) == 1, f"{dep['metadata']['name']}: nothing mounted at {folder}"
    source = volumes[mounts[0]["name"]].get("secret") or {}
    assert source.get("secretName") == secret, f"{dep['metadata']['name']}: {folder} is not Secret {secret}"
    items = source.get("items")
    assert items is None or {"key": key, "path": key} in items, f"{dep['metadata']['name']}: no file {key}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_deployment_running_it(overlay: str) -> None:
    deps = _deployments(overlay)
    for service in SERVICES:
        dep = deps.get(f"referral-bus-{service}")
        assert dep is not None, f"[{overlay}] services/{service} has no Deployment referral-bus-{service}"
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert f"services.{service}.app" in container["command"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_secrets_each_worker_reads_are_mounted(overlay: str) -> None:
    deps = _deployments(overlay)
    for service in SEALING:
        _secret_file_dir(
            deps[f"referral-bus-{service}"], "REFERRAL_BUS_SECRETS_DIR", "referral-bus-case-key-kek", "case-key-kek"
        )
    _secret_file_dir(
        deps["referral-bus-ledger"], "LEDGER_SECRETS_DIR", "referral-bus-ledger-secrets", "ledger-checkpoint-key"
    )
