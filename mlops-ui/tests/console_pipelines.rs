//! The console's pipelines and studies pages over a real pipeline run (two shell steps, run
//! twice: ran, then cached) and a real HPO study journal.
#![cfg(feature = "console")]

use std::fs;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mlops_pipeline::cache::Cache;
use mlops_pipeline::hpo::study::{Study, StudySpec};
use mlops_pipeline::hpo::{Direction, Distribution, ParamSpec, SearchSpace};
use mlops_pipeline::{Pipeline, Registered, RunOptions, RunReport, Runner};
use mlops_ui::console::{router, ConsoleConfig};
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

const PIPELINE: &str = r#"
name = "tiny"
seed = 1

[[steps]]
name = "prep"
command = ["sh", "-c", "tr a-z A-Z < ${inputs.raw} > ${outputs.out}"]
inputs = { raw = "data/raw.csv" }
outputs = { out = "work/prep.csv" }

[[steps]]
name = "train"
command = ["sh", "-c", "wc -c < ${inputs.data} > ${outputs.model}"]
inputs = { data = "@prep.out" }
outputs = { model = "work/model.txt" }
"#;

/// Runs the pipeline twice; returns the cache directory and both reports.
fn two_runs(dir: &std::path::Path) -> (PathBuf, RunReport, RunReport) {
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("data/raw.csv"), "a,b\n1,2\n").unwrap();
    let p = dir.join("pipeline.toml");
    fs::write(&p, PIPELINE).unwrap();
    let pipeline = Pipeline::load(&p).unwrap();
    let opts = RunOptions::default();
    let first = Runner::new().run(&pipeline, &opts).unwrap();
    let second = Runner::new().run(&pipeline, &opts).unwrap();
    (Runner::cache_dir(&pipeline, &opts), first, second)
}

fn study(path: &std::path::Path) -> Study {
    let space = SearchSpace {
        params: vec![ParamSpec {
            name: "x".into(),
            distribution: Distribution::Float {
                low: -1.0,
                high: 1.0,
                log: false,
                step: None,
            },
            condition: None,
        }],
    };
    let mut spec = StudySpec::new("quadratic", space);
    spec.direction = Direction::Minimize;
    spec.seed = 3;
    let s = Study::open_or_create(path, spec).unwrap();
    s.run(&|t| Ok((t.param_f64("x")? - 0.25).powi(2)), 8, 1)
        .unwrap();
    s
}

#[tokio::test]
async fn runs_are_listed_with_steps_gate_and_registration() {
    let dir = tempfile::tempdir().unwrap();
    let (cache_dir, first, second) = two_runs(dir.path());
    assert_eq!(first.ran().len(), 2);
    assert!(second.ran().is_empty());
    // A third report with a gate verdict and a registered version, stored the way the
    // runner stores its reports (the tiny pipeline has no [gate] or [register]).
    let mut gated = second.clone();
    gated.run_id = "feedfacefeedfacefeedfacefeedface".into();
    gated.started_at = "2099-01-01T00:00:00Z".into();
    gated.gate = Some(serde_json::json!({
        "passed": false,
        "reasons": ["roc_auc: candidate 0.812 < threshold 0.85"],
        "notes": ["no champion"],
    }));
    gated.registered = Some(Registered {
        name: "fraud".into(),
        version: 4,
        alias: Some("candidate".into()),
    });
    Cache::open(&cache_dir)
        .unwrap()
        .put_run(&gated.run_id, &gated)
        .unwrap();
    // One bad file must not break the page.
    fs::write(cache_dir.join("runs/broken.json"), b"{ not json").unwrap();

    let journal = dir.path().join("study.journal");
    let s = study(&journal);
    let best = s.best().unwrap();

    let app = router(ConsoleConfig {
        pipeline_caches: vec![cache_dir.clone(), dir.path().join("missing-cache")],
        studies: vec![journal.clone(), dir.path().join("no.journal")],
        ..Default::default()
    });
    let (status, b) = get(&app, "/ui/pipelines").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    for r in [&first, &second, &gated] {
        assert!(
            b.contains(&format!(r#"tr data-run="{}""#, r.run_id)),
            "{}",
            r.run_id
        );
        assert!(b.contains(&format!(r#"href="/ui/pipelines/runs/{}""#, r.run_id)));
    }
    // first: 2 ran, 0 cached; second: 0 ran, 2 cached.
    let row = |id: &str| {
        let i = b.find(&format!(r#"tr data-run="{id}""#)).unwrap();
        b[i..i + b[i..].find("</tr>").unwrap()].to_string()
    };
    let r1 = row(&first.run_id);
    assert!(
        r1.contains(r#"<td class="num" data-v="2">2</td><td class="num" data-v="0">0</td>"#),
        "{r1}"
    );
    let r2 = row(&second.run_id);
    assert!(
        r2.contains(r#"<td class="num" data-v="0">0</td><td class="num" data-v="2">2</td>"#),
        "{r2}"
    );
    assert!(r1.contains("tiny") && r1.contains("manual"));
    let r3 = row(&gated.run_id);
    assert!(r3.contains(r#"data-gate="failed""#));
    assert!(r3.contains(r#"href="/ui/models/fraud/versions/4""#));
    // The newest run first.
    assert!(b.find(&gated.run_id).unwrap() < b.find(&first.run_id).unwrap());
    assert!(b.contains("unreadable run file") && b.contains("broken.json"));
    assert!(
        b.contains("missing-cache"),
        "an unlistable cache is reported"
    );
    // Studies: linked, with the best value; an unreadable journal is listed as such.
    assert!(
        b.contains(r#"<a href="/ui/studies/0">quadratic</a>"#),
        "{b}"
    );
    assert!(b.contains(&format!(r#"data-v="{}""#, best.value.unwrap())));
    assert!(b.contains(r#"tr class="unreadable" data-study="1""#));

    let (status, b) = get(&app, &format!("/ui/pipelines/runs/{}", first.run_id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(b.contains(r#"tr data-step="prep" data-status="ran""#));
    assert!(b.contains(r#"tr data-step="train" data-status="ran""#));
    let digest = &first.step("train").unwrap().outputs["model"];
    assert!(b.contains(digest.as_str()), "output digest {digest}");
    assert!(b.contains("No gate report"));
    let (_, b) = get(&app, &format!("/ui/pipelines/runs/{}", second.run_id)).await;
    assert!(b.contains(r#"tr data-step="prep" data-status="cached""#));
    let (_, b) = get(&app, &format!("/ui/pipelines/runs/{}", gated.run_id)).await;
    assert!(b.contains("roc_auc: candidate 0.812 &lt; threshold 0.85"));
    assert!(b.contains(r#"href="/ui/models/fraud/versions/4""#));

    for (uri, want) in [
        ("/ui/pipelines/runs/0000", StatusCode::NOT_FOUND),
        ("/ui/pipelines/runs/..%2Fsecret", StatusCode::BAD_REQUEST),
        (
            "/ui/pipelines/runs/broken",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        ("/ui/studies/9", StatusCode::NOT_FOUND),
        ("/ui/studies/x", StatusCode::BAD_REQUEST),
        ("/ui/studies/1", StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let (status, b) = get(&app, uri).await;
        assert_eq!(status, want, "{uri}: {b}");
        assert!(b.contains(r#"role="alert""#), "{uri}");
    }
}

#[tokio::test]
async fn a_study_page_shows_every_trial_and_the_best_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("study.journal");
    let s = study(&journal);
    let trials = s.trials();
    assert_eq!(trials.len(), 8);
    // The study is still open (holding its lock): the page reads without taking it.
    let app = router(ConsoleConfig {
        studies: vec![journal],
        ..Default::default()
    });
    let (status, b) = get(&app, "/ui/studies/0").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    for t in &trials {
        assert!(b.contains(&format!(
            r#"tr data-trial="{}" data-state="complete""#,
            t.number
        )));
        assert!(b.contains(&format!(r#"data-v="{}""#, t.value.unwrap())));
    }
    assert!(
        b.contains(r#"data-series="trial value" data-points="8""#),
        "{b}"
    );
    assert!(b.contains(r#"data-series="best so far" data-points="8""#));
    let best = s.best().unwrap();
    assert!(b.contains(&format!("#{} = ", best.number)));
    assert!(
        b.contains("<button class=\"sort\" type=\"button\">x</button>"),
        "a column per param"
    );
}
