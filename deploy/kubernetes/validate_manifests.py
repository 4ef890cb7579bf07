#!/usr/bin/env python3
"""Offline checks of rendered Kubernetes manifests (run by scripts/validate-k8s.sh).

    validate_manifests.py --schemas DIR --metrics-rs FILE [-k 1.30 -k 1.37] LABEL=RENDERED.yaml ...

Each RENDERED.yaml is one `kubectl kustomize` output. Every object in it is checked, and one
line is printed per object (`ok` or `FAIL`, then the reasons):

1. Schema. Built-in kinds against kubernetes-validate's schemas in strict mode (unknown fields
   are errors), for every `-k` Kubernetes version. Custom resources against the JSON Schemas in
   --schemas (made from the upstream CRDs, see schemas/README.md), matched on apiVersion and
   kind. A kind with no schema at all is an error: nothing passes unchecked.
2. What this project relies on, which no schema says:
   - `mlops serve` containers: --addr binds all interfaces on the port the probes, the
     Service and the Prometheus annotations use; readiness on /v2/health/ready, liveness on
     /v2/health/live; terminationGracePeriodSeconds ≥ preStop sleep + --drain-delay-s +
     --drain-timeout-s; non-root; requests and limits; no flag given twice; every $(VAR) in
     the args defined in the container's environment;
   - ConfigMap references resolve within the render (Secrets may be external: noted);
   - committed Secrets hold only obviously fake credentials;
   - each autoscaler targets a Deployment of the render, and no Deployment has two;
     ScaledObject minReplicaCount ≤ maxReplicaCount (the CRD's CEL rule);
   - Prometheus triggers name serverAddress, query and threshold, and the query names only
     series that mlops-serve exports (read from --metrics-rs);
   - at most one pod writes rollout verdicts back to the registry: workloads with a
     candidate (--canary/--shadow) and without --no-write-back may have one replica at most,
     replaced with Recreate (see deploy/README.md).

Exits 1 when any object fails, 2 on a usage or input error.
"""

import argparse
import base64
import json
import re
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

SERVE_HEALTH_READY = "/v2/health/ready"
SERVE_HEALTH_LIVE = "/v2/health/live"
# Flags of `mlops serve` that clap accepts more than once (Vec arguments).
REPEATABLE_FLAGS = {"--steps", "--format"}
# Defaults of `mlops serve` (mlops-cli/src/serve.rs) and of Kubernetes.
DEFAULT_DRAIN_DELAY_S = 0.0
DEFAULT_DRAIN_TIMEOUT_S = 30.0
DEFAULT_GRACE_S = 30
SENSITIVE_KEY = re.compile(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|PRIVATE", re.I)
OBVIOUSLY_FAKE = re.compile(r"fake|placeholder|example|changeme|not-a-real", re.I)
# What deploy/README.md tells users to put in the external mlops-registry-s3 Secret.
EXTERNAL_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                        "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN")


def fail_usage(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


# --- exported metrics -----------------------------------------------------------------------


def exported_series(metrics_rs):
    """Series names mlops-serve's Metrics registry exposes, read from its source."""
    text = Path(metrics_rs).read_text(encoding="utf-8")
    prefix = re.search(r'Registry::with_prefix\("([a-z_]+)"\)', text)
    fams = re.search(r"struct Families \{(.*?)\n\}", text, re.S)
    if not prefix or not fams:
        fail_usage(f"{metrics_rs}: cannot find the registry prefix or `struct Families`")
    aliases = dict(re.findall(r"^type\s+(\w+)\s*=\s*(.+);", text, re.M))
    kinds = {}
    for field, ty in re.findall(r"^\s*([a-z_]+):\s*(.+),\s*$", fams.group(1), re.M):
        ty = aliases.get(ty.strip(), ty)
        if "Histogram" in ty:
            kinds[field] = "histogram"
        elif "Counter" in ty:
            kinds[field] = "counter"
        elif "Gauge" in ty:
            kinds[field] = "gauge"
    series = set()
    registered = re.findall(
        r'register\(\s*"([a-z_]+)"\s*,\s*"(?:[^"\\]|\\.)*"\s*,\s*f\.([a-z_]+)\.clone\(\)', text
    )
    for name, field in registered:
        full = f"{prefix.group(1)}_{name}"
        kind = kinds.get(field)
        if kind == "counter":
            series.add(full + "_total")
        elif kind == "histogram":
            series.update(full + s for s in ("_bucket", "_sum", "_count"))
        elif kind == "gauge":
            series.add(full)
        else:
            fail_usage(f"{metrics_rs}: metric {full!r} has a family of unknown type")
    if not series:
        fail_usage(f"{metrics_rs}: no registered metric found (has its layout changed?)")
    return series


# --- schemas --------------------------------------------------------------------------------


def load_crd_schemas(directory):
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        props = schema.get("properties", {})
        key = (props.get("apiVersion", {}).get("const"), props.get("kind", {}).get("const"))
        if None in key:
            fail_usage(f"{path}: no const apiVersion/kind")
        out[key] = (path.name, jsonschema.Draft202012Validator(schema))
    if not out:
        fail_usage(f"{directory}: no *.json schema")
    return out


def where(error):
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def schema_errors(obj, crd_schemas, versions):
    """Errors of obj against its schema, and a note on what it was checked against."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in crd_schemas:
        name, validator = crd_schemas[key]
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        return [f"{where(e)}: {e.message}" for e in errors[:5]], f"schema {name}"
    errors = []
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as e:
            return [f"no schema: {e.message}; add a JSON Schema to the schemas directory"], ""
        except kubernetes_validate.ValidationError as e:
            errors.append(f"k8s {version}: {where(e)}: {e.message}")
    return errors, "k8s " + ", ".join(versions) + " strict"


# --- mlops serve containers -----------------------------------------------------------------


def parse_flags(args):
    """`--flag=value`, `--flag value` and bare `--flag` into a list of (flag, value)."""
    out, i = [], 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            if "=" in a:
                flag, value = a.split("=", 1)
            elif i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
                flag, value = a, str(args[i + 1])
                i += 1
            else:
                flag, value = a, None
            out.append((flag, value))
        i += 1
    return out


def addr_port(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), port


def serve_container_problems(c, pod, ctx):
    """Problems of one container running `mlops serve`; `pod` is the pod spec (or None)."""
    p = []
    args = [str(a) for a in (c.get("args") or [])]
    flags = parse_flags(args[1:])
    names = [f for f, _ in flags]
    for f in sorted({f for f in names if names.count(f) > 1} - REPEATABLE_FLAGS):
        p.append(f"flag {f} given {names.count(f)} times (mlops serve refuses that)")
    value = {f: v for f, v in flags}
    if "--model" not in value:
        p.append("no --model NAME@ALIAS")
    addr = value.get("--addr")
    if not addr:
        p.append("no --addr: mlops serve would listen on 127.0.0.1 only")
        port = None
    else:
        host, port = addr_port(addr)
        if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
            p.append(f"--addr {addr} binds loopback: unreachable from outside the pod")
    ports = {str(x.get("containerPort")) for x in c.get("ports") or []}
    named = {x.get("name"): str(x.get("containerPort")) for x in c.get("ports") or []}
    if port and port not in ports:
        p.append(f"--addr port {port} is not a containerPort ({sorted(ports)})")
    for probe, path in (("readinessProbe", SERVE_HEALTH_READY), ("livenessProbe", SERVE_HEALTH_LIVE)):
        get = (c.get(probe) or {}).get("httpGet")
        if not get:
            p.append(f"no {probe} httpGet")
            continue
        if get.get("path") != path:
            p.append(f"{probe} path {get.get('path')!r}, expected {path}")
        probe_port = str(named.get(get.get("port"), get.get("port")))
        if port and probe_port != port:
            p.append(f"{probe} port {get.get('port')} is not the --addr port {port}")
    # $(VAR) references: Kubernetes leaves undefined ones in place, literally.
    env_names = [e.get("name") for e in c.get("env") or []]
    for n in sorted({n for n in env_names if env_names.count(n) > 1}):
        p.append(f"env {n} defined twice")
    defined = set(env_names) | ctx.env_from_keys(c)
    for ref in sorted({m for a in args for m in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a)}):
        if ref not in defined:
            p.append(f"args use $({ref}), which the container's environment does not define")
    # Graceful drain.
    def seconds(flag, default):
        try:
            return float(value.get(flag, default))
        except (TypeError, ValueError):
            p.append(f"{flag} {value.get(flag)!r} is not a number of seconds")
            return default
    delay = seconds("--drain-delay-s", DEFAULT_DRAIN_DELAY_S)
    timeout = seconds("--drain-timeout-s", DEFAULT_DRAIN_TIMEOUT_S)
    pre = ((c.get("lifecycle") or {}).get("preStop") or {})
    sleep = 0.0
    cmd = (pre.get("exec") or {}).get("command") or []
    if pre.get("sleep"):
        sleep = float(pre["sleep"].get("seconds", 0))
    elif len(cmd) == 2 and cmd[0] == "sleep":
        sleep = float(cmd[1])
    elif not pre:
        p.append("no preStop hook: the pod may get traffic after SIGTERM")
    grace = (pod or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
    if grace < sleep + delay + timeout:
        p.append(
            f"terminationGracePeriodSeconds {grace} < preStop {sleep:g} + --drain-delay-s "
            f"{delay:g} + --drain-timeout-s {timeout:g}: in-flight requests would be killed"
        )
    # Hardening and sizing.
    psc = (pod or {}).get("securityContext") or {}
    csc = c.get("securityContext") or {}
    if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
        p.append("runAsNonRoot is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        p.append("allowPrivilegeEscalation is not false")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(part) or {}):
                p.append(f"no resources.{part}.{r}")
    return p, value


def is_serve(c):
    args = c.get("args") or []
    return bool(args) and str(args[0]) == "serve"


# --- one render -----------------------------------------------------------------------------


class Render:
    def __init__(self, label, objects):
        self.label = label
        self.objects = objects
        self.by_kind = {}
        for o in objects:
            self.by_kind.setdefault(o.get("kind"), {})[(o.get("metadata") or {}).get("name")] = o

    def named(self, kind, name):
        return self.by_kind.get(kind, {}).get(name)

    def env_from_keys(self, c):
        keys = set()
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                ref = src.get(field)
                if not ref:
                    continue
                obj = self.named(kind, ref.get("name"))
                if obj is None:
                    # An external Secret: its keys are unknown here; take the documented ones.
                    found = set(EXTERNAL_SECRET_KEYS)
                else:
                    found = set((obj.get("data") or {}).keys()) | set((obj.get("stringData") or {}).keys())
                keys |= {prefix + k for k in found}
        return keys

    def reference_problems(self, containers, volumes, notes):
        p = []
        for c in containers:
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    cm = self.named("ConfigMap", ref.get("name"))
                    if cm is None and not ref.get("optional"):
                        p.append(f"env {e.get('name')}: ConfigMap {ref.get('name')} is not in the render")
                    elif cm is not None and ref.get("key") not in (cm.get("data") or {}):
                        p.append(f"env {e.get('name')}: ConfigMap {ref.get('name')} has no key {ref.get('key')}")
                if "secretKeyRef" in vf and self.named("Secret", vf["secretKeyRef"].get("name")) is None:
                    notes.add(f"expects Secret {vf['secretKeyRef'].get('name')} in the cluster")
            for src in c.get("envFrom") or []:
                if "configMapRef" in src and self.named("ConfigMap", src["configMapRef"].get("name")) is None:
                    p.append(f"envFrom: ConfigMap {src['configMapRef'].get('name')} is not in the render")
                if "secretRef" in src and self.named("Secret", src["secretRef"].get("name")) is None:
                    notes.add(f"expects Secret {src['secretRef'].get('name')} in the cluster")
        for v in volumes or []:
            if "configMap" in v and self.named("ConfigMap", v["configMap"].get("name")) is None:
                p.append(f"volume {v.get('name')}: ConfigMap {v['configMap'].get('name')} is not in the render")
        return p

    def autoscalers_of(self, deployment_name):
        out = []
        for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            for name, o in self.by_kind.get(kind, {}).items():
                ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
                if ref.get("name") == deployment_name and ref.get("kind", "Deployment") == "Deployment":
                    out.append(o)
        return out


def max_replicas(render, deployment):
    scalers = render.autoscalers_of(deployment["metadata"]["name"])
    counts = []
    for s in scalers:
        spec = s.get("spec") or {}
        if s["kind"] == "HorizontalPodAutoscaler":
            counts.append(spec.get("maxReplicas", 1))
        else:
            counts.append(spec.get("maxReplicaCount", 100))
    if counts:
        return max(counts)
    return (deployment.get("spec") or {}).get("replicas", 1)


def writes_back(flags):
    has_candidate = "--canary" in flags or "--shadow" in flags
    return has_candidate and "--no-write-back" not in flags


def check_object(obj, render, series, notes):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    p = []
    if kind == "Deployment":
        pod = (spec.get("template") or {}).get("spec") or {}
        containers = pod.get("containers") or []
        p += render.reference_problems(containers + (pod.get("initContainers") or []), pod.get("volumes"), notes)
        sa = pod.get("serviceAccountName")
        if sa and sa != "default" and render.named("ServiceAccount", sa) is None:
            p.append(f"serviceAccountName {sa} is not in the render")
        for c in containers:
            if not is_serve(c):
                continue
            problems, flags = serve_container_problems(c, pod, render)
            p += problems
            ann = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
            _, port = addr_port(flags.get("--addr") or ":")
            if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics" \
                    or ann.get("prometheus.io/port") != port:
                p.append("pod template lacks prometheus.io/scrape=true, path=/metrics, port=<--addr port>")
            if writes_back(flags):
                n = max_replicas(render, obj)
                if n > 1:
                    p.append(f"writes rollout verdicts back (candidate, no --no-write-back) with up "
                             f"to {n} replicas: more than one writer (see deploy/README.md)")
                if (spec.get("strategy") or {}).get("type") != "Recreate":
                    p.append("the write-back pod must use strategy Recreate (never two writers during a rollout)")
        scalers = render.autoscalers_of(obj["metadata"]["name"])
        if len(scalers) > 1:
            p.append("targeted by " + " and ".join(f"{s['kind']}/{s['metadata']['name']}" for s in scalers)
                     + ": autoscalers would fight")
    elif kind == "ServingRuntime":
        if "v2" not in (spec.get("protocolVersions") or []):
            p.append("protocolVersions lacks v2 (mlops serve speaks the Open Inference Protocol v2)")
        containers = spec.get("containers") or []
        p += render.reference_problems(containers, spec.get("volumes"), notes)
        for c in containers:
            if is_serve(c):
                problems, flags = serve_container_problems(c, None, render)
                p += problems
                if writes_back(flags):
                    p.append("a ServingRuntime is scaled by KServe: give --no-write-back with a candidate")
                if c.get("name") != "kserve-container":
                    p.append("the serving container must be named kserve-container (KServe's convention)")
    elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        ref = spec.get("scaleTargetRef") or {}
        if ref and ref.get("kind", "Deployment") == "Deployment" and render.named("Deployment", ref.get("name")) is None:
            p.append(f"scaleTargetRef Deployment {ref.get('name')} is not in the render")
        if kind == "ScaledObject":
            lo, hi = spec.get("minReplicaCount"), spec.get("maxReplicaCount", 100)
            if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
                p.append(f"minReplicaCount {lo} > maxReplicaCount {hi}")
            for t in spec.get("triggers") or []:
                if t.get("type") != "prometheus":
                    continue
                md = t.get("metadata") or {}
                for k in ("serverAddress", "query", "threshold"):
                    if not md.get(k):
                        p.append(f"prometheus trigger without {k}")
                try:
                    if float(md.get("threshold", "x")) <= 0:
                        p.append("prometheus threshold must be > 0")
                except ValueError:
                    p.append(f"prometheus threshold {md.get('threshold')!r} is not a number")
                names = set(re.findall(r"\bmlops_[a-z0-9_]+", md.get("query", "")))
                if not names:
                    p.append("prometheus query names no mlops metric")
                for n in sorted(names - series):
                    p.append(f"prometheus query names {n}, which mlops serve does not export")
    elif kind == "Secret":
        data = dict(obj.get("stringData") or {})
        for k, v in (obj.get("data") or {}).items():
            try:
                data[k] = base64.b64decode(v).decode("utf-8", "replace")
            except ValueError:
                p.append(f"data.{k} is not base64")
        for k, v in data.items():
            if SENSITIVE_KEY.search(k) and not OBVIOUSLY_FAKE.search(v):
                p.append(f"{k} does not look fake: never commit real credentials (create the Secret out of band)")
    return p


def load_render(label, path):
    try:
        with open(path, encoding="utf-8") as f:
            objects = [o for o in yaml.safe_load_all(f) if o is not None]
    except (OSError, yaml.YAMLError) as e:
        fail_usage(f"{label}: cannot read {path}: {e}")
    for o in objects:
        if not isinstance(o, dict) or "kind" not in o or "apiVersion" not in o:
            fail_usage(f"{label}: {path} holds something that is not a Kubernetes object")
    return Render(label, objects)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schemas", required=True, help="directory of CRD JSON Schemas")
    ap.add_argument("--metrics-rs", required=True, help="mlops-serve/src/metrics.rs")
    ap.add_argument("-k", "--kubernetes-version", action="append", dest="versions")
    ap.add_argument("renders", nargs="+", metavar="LABEL=FILE")
    a = ap.parse_args()
    versions = a.versions or ["1.30", kubernetes_validate.latest_version()]
    crd_schemas = load_crd_schemas(a.schemas)
    series = exported_series(a.metrics_rs)
    print(f"checks: {len(series)} exported series from {a.metrics_rs}; "
          f"CRD schemas {', '.join(n for n, _ in crd_schemas.values())}; Kubernetes {', '.join(versions)}")
    failed = total = 0
    for spec in a.renders:
        label, sep, path = spec.partition("=")
        if not sep:
            fail_usage(f"{spec!r}: expected LABEL=FILE")
        render = load_render(label, path)
        if not render.objects:
            fail_usage(f"{label}: {path} renders no object")
        for obj in render.objects:
            total += 1
            meta = obj.get("metadata") or {}
            ident = f"{obj['apiVersion']} {obj['kind']} {meta.get('namespace', '-')}/{meta.get('name')}"
            notes = set()
            problems, checked = schema_errors(obj, crd_schemas, versions)
            if not problems:
                try:
                    problems = check_object(obj, render, series, notes)
                except Exception as e:  # a malformed object must fail, never pass
                    problems = [f"policy checks could not read the object: {type(e).__name__}: {e}"]
            tail = f" [{checked}]" if checked else ""
            if notes:
                tail += " (" + "; ".join(sorted(notes)) + ")"
            if problems:
                failed += 1
                print(f"FAIL {label:<10} {ident}{tail}")
                for pr in problems:
                    print(f"       - {pr}")
            else:
                print(f"ok   {label:<10} {ident}{tail}")
    print(f"k8s-manifests: {total - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
