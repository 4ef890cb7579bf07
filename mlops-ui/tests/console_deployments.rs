//! The deployments pages over a real deployment: two engines, requests routed through it, a
//! canary weight set at run time, then the pages fetched through the router.
#![cfg(feature = "console")]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mlops_core::{DType, Schema, Signature, TensorSpec};
use mlops_serve::deploy::{Arm, Deployment, ModelSet, RouteOptions, Strategy};
use mlops_serve::{EngineBuilder, Metrics, ModelIdentity, Predictor, Result, Tensor, Tensors};
use mlops_ui::console::{router, ConsoleConfig};
use tower::ServiceExt;

/// `y = x + offset`.
#[derive(Debug)]
struct AddOffset {
    id: ModelIdentity,
    sig: Signature,
    offset: f32,
}

impl Predictor for AddOffset {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let t = &inputs["x"];
        let out: Vec<f32> = t
            .as_f32()
            .unwrap()
            .iter()
            .map(|a| a + self.offset)
            .collect();
        Ok(Tensors::from([(
            "y".to_owned(),
            Tensor::f32(t.shape().to_vec(), out).unwrap(),
        )]))
    }
}

fn engine(version: u64, metrics: &Metrics) -> mlops_serve::Engine {
    let p = Arc::new(AddOffset {
        id: ModelIdentity::new("churn", version).unwrap(),
        sig: Signature {
            inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 1])]),
            outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
        },
        offset: version as f32,
    });
    EngineBuilder::new(p)
        .with_max_delay(Duration::ZERO)
        .with_metrics(metrics.clone())
        .build()
        .unwrap()
}

/// A deployment of churn v1 with candidate v2 at canary 10 %, 200 requests routed, then the
/// weight raised to 25 %. Returns the set and the requests each arm answered.
fn deployed() -> (ModelSet, u64, u64) {
    let m = Metrics::new();
    let d = Deployment::new(engine(1, &m)).unwrap();
    d.set_candidate(engine(2, &m), Strategy::Canary { weight: 0.1 }, "tester")
        .unwrap();
    let (mut stable, mut cand) = (0, 0);
    for i in 0..200 {
        let x = Tensors::from([(
            "x".to_owned(),
            Tensor::from_rows(&[vec![i as f32]]).unwrap(),
        )]);
        let r = d.predict(x, &RouteOptions::default()).unwrap();
        match r.arm {
            Arm::Stable => stable += 1,
            _ => cand += 1,
        }
    }
    d.set_strategy(Strategy::Canary { weight: 0.25 }, "alice")
        .unwrap();
    let set = ModelSet::new();
    set.insert(d);
    (set, stable, cand)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Option<String>, String) {
    let r = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let csp = r
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, csp, String::from_utf8(body.to_vec()).unwrap())
}

fn attr_of_row(html: &str, arm: &str, attr: &str) -> String {
    let row = &html[html.find(&format!("data-arm=\"{arm}\"")).expect(arm)..];
    let needle = format!("{attr}=\"");
    let rest = &row[row.find(&needle).unwrap() + needle.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test]
async fn the_pages_show_the_split_the_counts_and_the_events() {
    let (set, stable, cand) = deployed();
    assert_eq!(stable + cand, 200);
    let app = router(ConsoleConfig {
        models: Some(set.clone()),
        ..ConsoleConfig::default()
    });

    let (status, csp, list) = get(&app, "/ui/deployments").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csp.unwrap().contains("script-src 'self'"));
    assert!(
        list.contains(r#"<a href="/ui/deployments/churn">churn</a>"#),
        "{list}"
    );
    assert!(list.contains("canary 25 %"), "{list}");

    let (status, _, page) = get(&app, "/ui/deployments/churn").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The split bar: stable 75 %, candidate 25 %.
    assert!(
        page.contains(r#"class="arm-stable" data-share="0.75""#),
        "{page}"
    );
    assert!(page.contains(r#"class="arm-candidate" data-share="0.25""#));
    // The live panel refreshes from its fragment URL.
    assert!(page.contains(r#"data-refresh="/ui/deployments/churn/live" data-interval="2000""#));
    // Requests per arm are the deployment's own counts.
    assert_eq!(
        attr_of_row(&page, "stable", "data-requests"),
        stable.to_string()
    );
    assert_eq!(
        attr_of_row(&page, "candidate", "data-requests"),
        cand.to_string()
    );
    assert_eq!(attr_of_row(&page, "candidate", "data-version"), "2");
    // Events newest first: the weight change by alice (seq 2), then the candidate (seq 1).
    let s2 = page
        .find(r#"data-seq="2" data-kind="strategy_changed""#)
        .expect("seq 2");
    let s1 = page
        .find(r#"data-seq="1" data-kind="candidate_set""#)
        .expect("seq 1");
    assert!(s2 < s1, "newest first");
    assert!(page.contains("<td>alice</td>") && page.contains("<td>tester</td>"));
    // No admin token on this server: no forms, and it says so.
    assert!(!page.contains("data-admin="));
    assert!(!page.contains("admin-token"));
    assert!(page.contains(r#"id="admin-disabled""#));

    // The fragment: no shell, the counts again, and a rate now that a poll came before.
    std::thread::sleep(Duration::from_millis(20));
    let d = set.get("churn").unwrap();
    for i in 0..40 {
        let x = Tensors::from([(
            "x".to_owned(),
            Tensor::from_rows(&[vec![i as f32]]).unwrap(),
        )]);
        d.predict(x, &RouteOptions::default()).unwrap();
    }
    let (status, _, frag) = get(&app, "/ui/deployments/churn/live").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!frag.contains("<html"));
    let total: u64 = attr_of_row(&frag, "stable", "data-requests")
        .parse::<u64>()
        .unwrap()
        + attr_of_row(&frag, "candidate", "data-requests")
            .parse::<u64>()
            .unwrap();
    assert_eq!(total, 240);
    // The requests/s cell of the stable row is a positive number (40 requests since the last poll,
    // split between the arms).
    let row = &frag[frag.find(r#"data-arm="stable""#).unwrap()..];
    let cells: Vec<&str> = row
        .split("<td class=\"num\" data-v=\"")
        .skip(3)
        .take(1)
        .collect();
    let rate: f64 = cells[0][..cells[0].find('"').unwrap()].parse().unwrap();
    assert!(rate > 0.0, "{frag}");

    let (status, _, missing) = get(&app, "/ui/deployments/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("nope"));
}

#[tokio::test]
async fn admin_forms_appear_only_with_the_admin_api_enabled() {
    let (set, _, _) = deployed();
    let app = router(ConsoleConfig {
        models: Some(set),
        admin_enabled: true,
        ..ConsoleConfig::default()
    });
    let (_, _, page) = get(&app, "/ui/deployments/churn").await;
    assert!(
        page.contains(r#"<input id="admin-token" type="password""#),
        "{page}"
    );
    assert!(page.contains(r#"<label for="admin-token">"#));
    assert!(page.contains(
        r#"data-admin="strategy" action="/v2/admin/models/churn/strategy" data-method="PUT""#
    ));
    assert!(page.contains(
        r#"data-admin="promote" action="/v2/admin/models/churn/promote" data-method="POST""#
    ));
    assert!(page.contains(
        r#"data-admin="rollback" action="/v2/admin/models/churn/rollback" data-method="POST""#
    ));
    // The form starts at the current strategy: canary, 25 %.
    assert!(page.contains(r#"<option value="canary" selected>"#));
    assert!(page.contains(r#"name="weight" type="number" min="0" max="100" step="0.1" value="25""#));
    assert!(!page.contains(r#"id="admin-disabled""#));
}

#[tokio::test]
async fn without_a_server_the_page_says_so() {
    let app = router(ConsoleConfig::default());
    let (status, _, page) = get(&app, "/ui/deployments").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"id="not-attached""#));
    let (status, _, page) = get(&app, "/ui/deployments/churn").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("mlops serve --ui"));
}
