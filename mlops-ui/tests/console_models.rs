//! The console's models pages over a real in-memory registry, through the router.
#![cfg(feature = "console")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use mlops_core::{DType, Lineage, ModelName, Schema, Sha256Digest, Signature, TensorSpec};
use mlops_registry::{Change, MemoryRegistry, NewVersion, Registry};
use mlops_ui::console::{router, ConsoleConfig};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    csp: Option<String>,
    body: String,
}

async fn get(app: &axum::Router, uri: &str) -> Reply {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let csp = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        csp,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn registry() -> Arc<dyn Registry> {
    let reg = MemoryRegistry::new();
    let name = ModelName::new("fraud").unwrap();
    let ds = Sha256Digest::of_bytes(b"train-2026-12");
    let sig = Signature {
        inputs: Schema::new(vec![TensorSpec::new("features", DType::F32, vec![-1, 7])]),
        outputs: Schema::new(vec![TensorSpec::new("score", DType::F32, vec![-1, 1])]),
    };
    reg.register(
        NewVersion::new(name.clone())
            .with_artifact_bytes("model.onnx", b"graph-1".to_vec())
            .with_metric("auc", 0.8125)
            .with_metric("loss", 0.375)
            .with_param("lr", "0.1")
            .with_tag("team", "<script>alert('x')</script>")
            .with_signature(sig.clone())
            .with_lineage(Lineage {
                datasets: vec![ds],
                code_commit: Some("c0ffee1".into()),
                parent_version: None,
            }),
    )
    .unwrap();
    let run = serde_json::json!({
        "run_id": "0123456789abcdef0123456789abcdef",
        "pipeline": "nightly",
        "trigger": {"kind": "manual"},
        "started_at": "2026-12-06T22:00:00Z",
        "steps": [
            {"name": "prepare", "status": "cached", "duration_s": 0.01, "outputs": {}},
            {"name": "train", "status": "ran", "duration_s": 1.5, "outputs": {}},
            {"name": "evaluate", "status": "ran", "duration_s": 0.25, "outputs": {}},
        ],
    });
    reg.register(
        NewVersion::new(name.clone())
            .with_artifact_bytes("model.onnx", b"graph-2".to_vec())
            .with_artifact_bytes("run.json", serde_json::to_vec(&run).unwrap())
            .with_metric("auc", 0.875)
            .with_metric("loss", 0.25)
            .with_metric("latency_ms", 12.5)
            .with_param("lr", "0.01")
            .with_tag("mlops.run_id", "0123456789abcdef0123456789abcdef")
            .with_signature(sig)
            .with_lineage(Lineage {
                datasets: vec![ds],
                code_commit: Some("c0ffee2".into()),
                parent_version: Some(1),
            }),
    )
    .unwrap();
    reg.register(
        NewVersion::new(ModelName::new("churn").unwrap())
            .with_artifact_bytes("w.bin", b"w".to_vec())
            .with_metric("f1", 0.5),
    )
    .unwrap();
    let churn = ModelName::new("churn").unwrap();
    reg.register(
        NewVersion::new(churn.clone())
            .with_artifact_bytes("w.bin", b"w2".to_vec())
            .with_metric("f1", 0.25),
    )
    .unwrap();
    reg.set_archived(&churn, 2, true, &Change::new("carol", "worse f1"))
        .unwrap();
    let champion = "champion".parse().unwrap();
    reg.set_alias(&name, &champion, 1, &Change::new("alice", "first baseline"))
        .unwrap();
    reg.set_alias(&name, &champion, 2, &Change::new("bob", "auc up 6 points"))
        .unwrap();
    Arc::new(reg)
}

fn app() -> axum::Router {
    router(ConsoleConfig {
        registry: Some(registry()),
        ..Default::default()
    })
}

#[tokio::test]
async fn models_list_shows_every_model_with_counts_and_aliases() {
    let r = get(&app(), "/ui/models").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.csp.unwrap().contains("default-src 'self'"));
    let b = r.body;
    assert!(b.contains(r#"<a href="/ui/models/fraud">fraud</a>"#), "{b}");
    assert!(b.contains(r#"<a href="/ui/models/churn">churn</a>"#));
    // fraud has 2 versions, churn 1.
    assert!(b.contains(r#"tr data-model="fraud"><td><a href="/ui/models/fraud">fraud</a></td><td class="num" data-v="2">"#), "{b}");
    // churn's archived v2 still counts.
    assert!(b.contains(r#"tr data-model="churn"><td><a href="/ui/models/churn">churn</a></td><td class="num" data-v="2">"#), "{b}");
    assert!(b.contains("champion → 2"));
}

#[tokio::test]
async fn model_page_has_versions_metrics_compare_form_and_alias_history() {
    let r = get(&app(), "/ui/models/fraud").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.body;
    assert!(b.contains(r#"tr data-version="1""#) && b.contains(r#"tr data-version="2""#));
    // Every metric is a column: latency_ms exists only in v2.
    for m in ["auc", "loss", "latency_ms"] {
        assert!(
            b.contains(&format!(
                r#"<button class="sort" type="button">{m}</button>"#
            )),
            "{m}"
        );
    }
    for v in ["0.8125", "0.875", "0.375", "0.25", "12.5"] {
        assert!(b.contains(&format!(r#"data-v="{v}""#)), "metric {v}");
    }
    assert!(!b.contains("<script>alert"), "the hostile tag is escaped");
    assert!(b.contains("&lt;script&gt;alert"));
    // Compare form: GET, two labelled selects, v1 and v2 preselected.
    assert!(b.contains(r#"method="get" action="/ui/models/fraud/compare""#));
    assert!(b.contains(r#"<label for="a">"#) && b.contains(r#"<select id="b" name="b">"#));
    assert!(b.contains(r#"<option value="1" selected>"#));
    // Alias history, newest first: bob's move 1 → 2 before alice's set.
    let bob = b.find("bob").expect("bob's move");
    let alice = b.find("alice").expect("alice's set");
    assert!(bob < alice, "newest first");
    assert!(b.contains("auc up 6 points") && b.contains("first baseline"));
    assert!(b.contains("v1 → v2") && b.contains("(unset) → v1"));
}

#[tokio::test]
async fn archived_versions_are_marked_and_archiving_is_in_the_history() {
    let b = get(&app(), "/ui/models/churn").await.body;
    let i = b
        .find(r#"tr data-version="2""#)
        .expect("archived v2 listed");
    let row = &b[i..i + b[i..].find("</tr>").unwrap()];
    assert!(row.ends_with("<td>archived</td>"), "{row}");
    let i = b.find(r#"tr data-version="1""#).unwrap();
    assert!(b[i..i + b[i..].find("</tr>").unwrap()].ends_with("<td></td>"));
    assert!(b.contains("v2 archived") && b.contains("carol") && b.contains("worse f1"));
}

#[tokio::test]
async fn version_page_shows_lineage_signature_artifacts_and_run() {
    let app = app();
    let r = get(&app, "/ui/models/fraud/versions/2").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.body;
    assert!(b.contains(r#"<div class="lineage">"#));
    assert!(b.contains(r#"<a href="/ui/models/fraud/versions/1">parent fraud/1</a>"#));
    assert!(b.contains(&Sha256Digest::of_bytes(b"train-2026-12").to_string()));
    assert!(b.contains("c0ffee2"));
    assert!(b.contains(r#"/ui/pipelines/runs/0123456789abcdef0123456789abcdef"#));
    assert!(
        b.contains(r#"data-ran="2""#) && b.contains(r#"data-cached="1""#),
        "{b}"
    );
    assert!(b.contains("nightly"));
    assert!(b.contains(r#"tr data-tensor="features""#) && b.contains("[?, 7]"));
    assert!(b.contains(&Sha256Digest::of_bytes(b"graph-2").to_string()));
    assert!(b.contains(r#"tr data-metric="latency_ms""#));
    assert!(b.contains("champion"));
    // v1 has no parent and no run.
    let b1 = get(&app, "/ui/models/fraud/versions/1").await.body;
    assert!(!b1.contains("parent fraud/"));
    assert!(b1.contains("Not produced by a pipeline run"));
}

#[tokio::test]
async fn compare_page_and_its_errors() {
    let app = app();
    let r = get(&app, "/ui/models/fraud/compare?a=1&b=2").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.body;
    assert!(
        b.contains(&format!(r#"data-v="{}""#, 0.875 - 0.8125)),
        "auc delta"
    );
    assert!(b.contains(r#"data-param="lr" data-differs="true""#));
    assert!(
        b.contains(r#"data-series="fraud/1" data-points="2""#),
        "auc and loss in both"
    );
    assert!(b.contains("c0ffee1") && b.contains("c0ffee2"));

    for (uri, status, needle) in [
        (
            "/ui/models/fraud/compare",
            StatusCode::BAD_REQUEST,
            "missing ?a=VERSION",
        ),
        (
            "/ui/models/fraud/compare?a=1",
            StatusCode::BAD_REQUEST,
            "missing &amp;b=VERSION",
        ),
        (
            "/ui/models/fraud/compare?a=x&b=2",
            StatusCode::BAD_REQUEST,
            "a must be a version number",
        ),
        (
            "/ui/models/fraud/compare?a=1&b=9",
            StatusCode::NOT_FOUND,
            "9",
        ),
        (
            "/ui/models/nope/compare?a=1&b=2",
            StatusCode::NOT_FOUND,
            "nope",
        ),
        ("/ui/models/nope", StatusCode::NOT_FOUND, "nope"),
        ("/ui/models/fraud/versions/7", StatusCode::NOT_FOUND, "7"),
        (
            "/ui/models/fraud/versions/0",
            StatusCode::BAD_REQUEST,
            "version number",
        ),
        (
            "/ui/models/fraud/versions/two",
            StatusCode::BAD_REQUEST,
            "version number",
        ),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        assert!(r.body.contains(r#"role="alert""#), "{uri}");
        assert!(r.body.contains(needle), "{uri}: {}", r.body);
    }
}

#[tokio::test]
async fn without_a_registry_the_pages_say_so() {
    let app = router(ConsoleConfig::default());
    for uri in [
        "/ui/models",
        "/ui/models/fraud",
        "/ui/models/fraud/versions/1",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.body.contains("No registry is configured"), "{uri}");
    }
}
