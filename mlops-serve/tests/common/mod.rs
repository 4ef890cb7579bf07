//! Test predictors and helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use mlops_core::{DType, Schema, Signature, TensorSpec};
use mlops_serve::{Error, ModelIdentity, Predictor, Result, Tensor, Tensors};

pub fn sig(n_in: i64, n_out: i64) -> Signature {
    Signature {
        inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, n_in])]),
        outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, n_out])]),
    }
}

pub fn x(rows: Vec<Vec<f32>>) -> Tensors {
    Tensors::from([("x".to_owned(), Tensor::from_rows(&rows).unwrap())])
}

pub fn y(out: &Tensors) -> Vec<f32> {
    out["y"].as_f32().unwrap().to_vec()
}

/// `y = x + offset` on a `[-1, 1]` input; records each call's row count; panics on 666;
/// fails on 777; optionally blocks at the start of each call until the test releases it.
#[derive(Debug)]
pub struct Probe {
    id: ModelIdentity,
    sig: Signature,
    offset: f32,
    pub calls: Mutex<Vec<usize>>,
    gate: Option<Gate>,
}

#[derive(Debug)]
struct Gate {
    started: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

/// The test's side of a gated [`Probe`].
pub struct GateHandle {
    started: Receiver<()>,
    release: Sender<()>,
}

impl GateHandle {
    /// Waits until the model has started a call (it is now blocked).
    pub fn wait_started(&self) {
        self.started.recv().unwrap();
    }
    /// Lets one call proceed.
    pub fn release(&self) {
        self.release.send(()).unwrap();
    }
    /// Lets `n` calls proceed.
    pub fn release_n(&self, n: usize) {
        for _ in 0..n {
            self.release();
        }
    }
}

impl Probe {
    pub fn new(version: u64, offset: f32) -> Arc<Self> {
        Arc::new(Self {
            id: ModelIdentity::new("probe", version).unwrap(),
            sig: sig(1, 1),
            offset,
            calls: Mutex::new(Vec::new()),
            gate: None,
        })
    }

    pub fn gated(version: u64, offset: f32) -> (Arc<Self>, GateHandle) {
        let (stx, srx) = channel();
        let (rtx, rrx) = channel();
        let p = Arc::new(Self {
            id: ModelIdentity::new("probe", version).unwrap(),
            sig: sig(1, 1),
            offset,
            calls: Mutex::new(Vec::new()),
            gate: Some(Gate {
                started: Mutex::new(stx),
                release: Mutex::new(rrx),
            }),
        });
        (
            p,
            GateHandle {
                started: srx,
                release: rtx,
            },
        )
    }

    pub fn calls(&self) -> Vec<usize> {
        self.calls.lock().unwrap().clone()
    }
}

impl Predictor for Probe {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let t = &inputs["x"];
        self.calls.lock().unwrap().push(t.rows());
        if let Some(g) = &self.gate {
            g.started.lock().unwrap().send(()).unwrap();
            g.release.lock().unwrap().recv().unwrap();
        }
        let v = t.as_f32().unwrap();
        if v.contains(&666.0) {
            panic!("probe saw 666");
        }
        if v.contains(&777.0) {
            return Err(Error::Model {
                model: "probe".into(),
                version: self.id.version,
                reason: "probe refuses 777".into(),
            });
        }
        let out: Vec<f32> = v.iter().map(|a| a + self.offset).collect();
        Ok(Tensors::from([(
            "y".to_owned(),
            Tensor::f32(t.shape().to_vec(), out).unwrap(),
        )]))
    }
}

/// A minimal `block_on` (no runtime): parks the thread until the waker fires.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
