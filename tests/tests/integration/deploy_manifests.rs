//! The Kubernetes manifests (`deploy/k8s`), checked offline: every overlay renders with
//! `kubectl kustomize` (Debian's kubernetes-client is enough), and the rendered objects keep
//! creel's invariants: the ConfigMap's `creel.toml` loads as `creel config check` loads it;
//! the worker's grace period covers `worker.drain_ms` with a margin; probes use paths the
//! binary serves, on the ports the config listens on; the ScaledObject scales the worker
//! Deployment on `/v1/scaling/<a served queue>` with the queue's concurrency as its target;
//! images are pinned by tag; pods run as non-root with a read-only root filesystem and a
//! size-limited `/tmp`; secrets are only referenced, never in the manifests.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// `kubectl kustomize <overlay>`, as JSON values.
fn render(overlay: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/k8s/overlays")
        .join(overlay);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubectl is needed to render the manifests (apt-get install kubernetes-client): {e}"
            )
        });
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    YamlLoader::load_from_str(&String::from_utf8_lossy(&out.stdout))
        .expect("rendered YAML")
        .iter()
        .map(to_json)
        .collect()
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map_or(Value::Null, Value::from),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} in the rendered manifests"))
}

/// The port of a `host:port` listen address.
fn port(listen: &str) -> i64 {
    listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("a port in {listen}"))
}

/// The ConfigMap's `creel.toml`, loaded by creel's own loader.
fn config_of(objects: &[Value]) -> creel_core::Config {
    let map = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["data"]["creel.toml"].is_string())
        .expect("the creel-config ConfigMap");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("creel.toml");
    std::fs::write(
        &file,
        map["data"]["creel.toml"].as_str().unwrap_or_default(),
    )
    .expect("write");
    creel::settings::load(Some(&file)).expect("the ConfigMap's creel.toml loads")
}

/// Every container of a Deployment, with the pod spec, checked for what both need.
fn check_pods(deployment: &Value) {
    let name = deployment["metadata"]["name"].as_str().unwrap_or("?");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{name}"
    );
    assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
    let tmp_volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["emptyDir"]["sizeLimit"].is_string())
        .filter_map(|v| v["name"].as_str())
        .collect();
    for c in pod["containers"].as_array().expect("containers") {
        let image = c["image"].as_str().expect("image");
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.contains('/'),
            "{name}: image {image} is pinned by tag"
        );
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
        let tmp = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mountPath"] == "/tmp")
            .unwrap_or_else(|| panic!("{name}: /tmp is mounted"));
        assert!(
            tmp_volumes.contains(&tmp["name"].as_str().unwrap_or("")),
            "{name}: /tmp is an emptyDir with a size limit"
        );
        for env in c["env"].as_array().into_iter().flatten() {
            assert!(
                env["value"].is_null() || !env["name"].as_str().unwrap_or("").contains("TOKEN"),
                "{name}: no secret value inline"
            );
            if let Some(r) = env["valueFrom"]["secretKeyRef"].as_object() {
                assert_eq!(r["name"], "creel-secrets", "{name}");
            }
        }
    }
}

/// The probes of a Deployment's one container: their paths, and the port they name.
fn probes(deployment: &Value) -> (Vec<String>, i64) {
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    let ports = c["ports"].as_array().expect("ports");
    let mut paths = Vec::new();
    let mut port_numbers = Vec::new();
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &c[probe]["httpGet"];
        paths.push(
            get["path"]
                .as_str()
                .unwrap_or_else(|| panic!("{probe}"))
                .to_owned(),
        );
        let number = match &get["port"] {
            Value::String(n) => ports
                .iter()
                .find(|p| p["name"] == n.as_str())
                .and_then(|p| p["containerPort"].as_i64())
                .unwrap_or_else(|| panic!("{probe}'s port {n}")),
            other => other.as_i64().expect("a port"),
        };
        port_numbers.push(number);
    }
    port_numbers.dedup();
    assert_eq!(
        port_numbers.len(),
        1,
        "one port for the probes: {port_numbers:?}"
    );
    (paths, port_numbers[0])
}

/// Checks shared by every overlay; returns the config and the worker Deployment's name.
fn common(objects: &[Value]) -> (creel_core::Config, String) {
    assert!(
        !objects.iter().any(|o| o["kind"] == "Secret"),
        "secrets are referenced, never shipped"
    );
    let config = config_of(objects);
    let worker = find(objects, "Deployment", "creel-worker");
    let api = find(objects, "Deployment", "creel-api");
    check_pods(worker);
    check_pods(api);

    let grace_ms = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds")
        * 1000;
    assert!(
        grace_ms >= i64::try_from(config.worker.drain_ms).unwrap_or(i64::MAX) + 5_000,
        "the worker's grace period ({grace_ms} ms) covers worker.drain_ms ({}) and a margin",
        config.worker.drain_ms
    );

    let (paths, probe_port) = probes(worker);
    let health = config
        .worker
        .health_listen
        .as_deref()
        .expect("worker.health_listen is set for the probes");
    assert_eq!(
        probe_port,
        port(health),
        "the worker's probes use worker.health_listen"
    );
    for p in &paths {
        assert!(
            ["/livez", "/readyz"].contains(&p.as_str()),
            "worker probe {p}"
        );
    }
    let (paths, probe_port) = probes(api);
    assert_eq!(
        probe_port,
        port(&config.api.listen),
        "the API's probes use api.listen"
    );
    for p in &paths {
        assert!(["/livez", "/readyz"].contains(&p.as_str()), "API probe {p}");
    }
    (config, "creel-worker".to_owned())
}

#[test]
fn the_keda_overlay_scales_the_workers_on_their_backlog() {
    let objects = render("keda");
    let (config, worker) = common(&objects);
    let scaled = find(&objects, "ScaledObject", "creel-worker");
    assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], worker.as_str());
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "metrics-api");
    assert_eq!(trigger["metricType"], "AverageValue");
    let meta = &trigger["metadata"];
    assert_eq!(meta["valueLocation"], "backlog");
    let url = meta["url"].as_str().expect("url");
    let (base, queue) = url.rsplit_once("/v1/scaling/").expect("the scaling route");
    assert!(
        base.contains("creel-api."),
        "the API Service answers: {url}"
    );
    let served = config
        .worker
        .queues
        .get(queue)
        .unwrap_or_else(|| panic!("queue {queue} is one the workers serve"));
    assert_eq!(
        meta["targetValue"],
        served.concurrency.to_string().as_str(),
        "the target backlog per pod is the worker's concurrency"
    );
    let auth = trigger["authenticationRef"]["name"].as_str().expect("auth");
    let auth = find(&objects, "TriggerAuthentication", auth);
    assert_eq!(auth["spec"]["secretTargetRef"][0]["name"], "creel-secrets");
    assert_eq!(meta["authMode"], "bearer");
    assert!(
        scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
            ["stabilizationWindowSeconds"]
            .as_i64()
            .is_some_and(|w| w > 0),
        "a scale-down stabilisation window"
    );
    assert!(
        scaled["spec"]["fallback"]["replicas"]
            .as_i64()
            .is_some_and(|r| r > 0)
    );
}

#[test]
fn the_hpa_overlay_scales_the_workers_on_cpu() {
    let objects = render("hpa");
    let (_, worker) = common(&objects);
    let hpa = find(&objects, "HorizontalPodAutoscaler", "creel-worker");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], worker.as_str());
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
}

/// The probe paths the manifests use are routes `creel worker` serves.
#[tokio::test]
async fn the_probe_paths_are_served() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = creel::worker_health::router(creel_queue::WorkerHealth::default());
    tokio::spawn(async move { axum::serve(listener, app).await });
    for path in ["/livez", "/readyz"] {
        let status = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("GET")
            .status();
        // Nothing has beaten yet: 503, a route that exists (404 would not).
        assert_eq!(status, 503, "{path}");
    }
}
