"""Project rules for deploy/ that schemas cannot express. Run by scripts/validate-deploy.sh.

    python3 scripts/deploy_policy.py DEPLOY_DIR

Exit status 1 with one line per broken rule. Needs PyYAML (installed with yamllint).
"""

import pathlib
import sys

import yaml

problems = []


def need(condition, message):
    if not condition:
        problems.append(message)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def dig(doc, *keys):
    """doc[k1][k2]..., or {} where a key is missing (a broken manifest is reported, not a crash)."""
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc if doc is not None else {}


def containers_of(pod_spec):
    return (pod_spec or {}).get("containers") or []


def check_hardened(where, pod_spec):
    pod_sc = pod_spec.get("securityContext") or {}
    need(pod_sc.get("runAsNonRoot") is True, f"{where}: pod securityContext.runAsNonRoot must be true")
    need((pod_sc.get("runAsUser") or 0) > 0, f"{where}: pod securityContext.runAsUser must be a non-root uid")
    for c in containers_of(pod_spec):
        sc = c.get("securityContext") or {}
        name = f"{where} container {c.get('name')}"
        need(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem must be true")
        need(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation must be false")
        need("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{name}: must drop ALL capabilities")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                need(resource in (res.get(kind) or {}), f"{name}: resources.{kind}.{resource} is required")


def probe_path(container, probe):
    return (((container.get(probe) or {}).get("httpGet")) or {}).get("path")


def check_k8s(k8s):
    kinds = {}
    for path in sorted(k8s.glob("*.yaml")):
        for doc in load_all(path):
            kinds.setdefault(doc.get("kind"), []).append((path.name, doc))

    for required in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                     "ConfigMap", "Secret", "Job", "Kustomization"):
        need(required in kinds, f"k8s: no {required} manifest")

    for name, dep in kinds.get("Deployment", []):
        spec = dig(dep, "spec", "template", "spec")
        check_hardened(name, spec)
        for c in containers_of(spec):
            need(probe_path(c, "livenessProbe") == "/health/live", f"{name}: livenessProbe must GET /health/live")
            need(probe_path(c, "readinessProbe") == "/health/ready", f"{name}: readinessProbe must GET /health/ready")
        grace = spec.get("terminationGracePeriodSeconds", 30)
        need(grace > 30 or "BROKERAGE__HTTP__SHUTDOWN_TIMEOUT_SECS" in yaml.safe_dump(kinds.get("ConfigMap")),
             f"{name}: terminationGracePeriodSeconds must exceed the shutdown timeout")

    for name, job in kinds.get("Job", []):
        spec = dig(job, "spec", "template", "spec")
        check_hardened(name, spec)
        args = [a for c in containers_of(spec) for a in (c.get("args") or c.get("command") or [])]
        need("migrate" in args, f"{name}: the migration Job must run `brokerage migrate`")

    for name, secret in kinds.get("Secret", []):
        values = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
        need(name.endswith(".example.yaml"), f"{name}: a Secret belongs in a *.example.yaml template only")
        for key, value in values.items():
            need("CHANGE-ME" in str(value), f"{name}: {key} must be a CHANGE-ME placeholder, never a real secret")

    for name, kustomization in kinds.get("Kustomization", []):
        for resource in kustomization.get("resources") or []:
            need((k8s / resource).is_file(), f"{name}: lists {resource}, which does not exist")
            need(not resource.endswith(".example.yaml"), f"{name}: must not apply the template {resource}")

    deployments = {dig(d, "metadata").get("name") for _, d in kinds.get("Deployment", [])}
    for name, hpa in kinds.get("HorizontalPodAutoscaler", []):
        need(dig(hpa, "spec", "scaleTargetRef").get("name") in deployments,
             f"{name}: scales a Deployment that does not exist")
        need(dig(hpa, "spec").get("minReplicas", 1) >= 2, f"{name}: minReplicas must be at least 2 (the PDB keeps one)")


def check_compose(deploy):
    compose = load_all(deploy / "docker-compose.yml")[0]
    services = compose.get("services") or {}
    for required in ("brokerage", "postgres", "redis", "otel-collector", "jaeger", "prometheus"):
        need(required in services, f"docker-compose.yml: no {required} service")
    for service in services.values():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                need((deploy / source).exists(), f"docker-compose.yml: mounts {source}, which does not exist")
    prometheus = load_all(deploy / "prometheus.yml")[0]
    paths = [job.get("metrics_path", "/metrics") for job in prometheus.get("scrape_configs") or []
             if job.get("job_name") == "brokerage"]
    need(paths == ["/metrics"], "prometheus.yml: a `brokerage` job must scrape /metrics")


def check_dockerfile(deploy):
    text = (deploy / "Dockerfile").read_text(encoding="utf-8")
    need(text.count("FROM ") >= 2, "Dockerfile: must be multi-stage")
    need("HEALTHCHECK" in text, "Dockerfile: needs a HEALTHCHECK")
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    need(bool(users) and not users[-1].startswith(("root", "0")), "Dockerfile: the final stage must run as a non-root USER")


def main():
    deploy = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "deploy")
    check_k8s(deploy / "k8s")
    check_compose(deploy)
    check_dockerfile(deploy)
    for p in problems:
        print(f"policy: {p}")
    if problems:
        sys.exit(1)
    print(f"policy: {deploy} follows the deployment rules")


if __name__ == "__main__":
    main()
