//! Streaming inference: records from an iterator (or a channel's iterator) become an iterator
//! of predictions, in order, with at most `max_in_flight` requests outstanding.

use std::collections::VecDeque;
use std::time::Duration;

use crate::engine::{Engine, Pending, RequestOptions};
use crate::error::{Error, Result};
use crate::tensor::Tensors;

enum Slot {
    Sent(Pending),
    /// Not admitted yet (the engine was overloaded); submitted when it reaches the front.
    Waiting(Tensors),
    Failed(Error),
}

/// The iterator returned by [`predict_stream`].
pub struct PredictionStream<I> {
    engine: Engine,
    source: I,
    window: VecDeque<Slot>,
    max_in_flight: usize,
    options: RequestOptions,
    exhausted: bool,
}

impl<I> std::fmt::Debug for PredictionStream<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionStream")
            .field("in_flight", &self.window.len())
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// Streams `records` through `engine`: yields one `Result` per record, in input order.
///
/// Backpressure: at most `max_in_flight` records are pulled from `records` ahead of the one
/// being yielded (a `max_in_flight` of 0 is treated as 1), so a slow model slows the source
/// instead of growing memory. When the engine answers [`Error::Overloaded`], the record waits
/// and is resubmitted (after the engine's retry hint, at most 10 ms per try) — it is never
/// dropped. Other per-record errors (bad input, model failure) are yielded in place and the
/// stream goes on.
///
/// A channel is an iterator too: `predict_stream(engine, receiver.into_iter(), 32, opts)`.
pub fn predict_stream<I>(
    engine: Engine,
    records: I,
    max_in_flight: usize,
    options: RequestOptions,
) -> PredictionStream<I::IntoIter>
where
    I: IntoIterator<Item = Tensors>,
{
    PredictionStream {
        engine,
        source: records.into_iter(),
        window: VecDeque::new(),
        max_in_flight: max_in_flight.max(1),
        options,
        exhausted: false,
    }
}

impl<I: Iterator<Item = Tensors>> PredictionStream<I> {
    fn fill(&mut self) {
        while !self.exhausted && self.window.len() < self.max_in_flight {
            let Some(rec) = self.source.next() else {
                self.exhausted = true;
                break;
            };
            // Once one record waits, later ones wait too, so admission order stays input order.
            if matches!(self.window.back(), Some(Slot::Waiting(_))) {
                self.window.push_back(Slot::Waiting(rec));
                continue;
            }
            self.window.push_back(self.try_send(rec));
        }
    }

    fn try_send(&self, rec: Tensors) -> Slot {
        match self.engine.admit(rec, self.options) {
            Ok(p) => Slot::Sent(p),
            Err((Error::Overloaded { .. }, Some(rec))) => Slot::Waiting(rec),
            Err((e, _)) => Slot::Failed(e),
        }
    }
}

impl<I: Iterator<Item = Tensors>> Iterator for PredictionStream<I> {
    type Item = Result<Tensors>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fill();
        let front = self.window.pop_front()?;
        let r = match front {
            Slot::Sent(p) => p.wait(),
            Slot::Failed(e) => Err(e),
            Slot::Waiting(mut rec) => loop {
                match self.engine.admit(rec, self.options) {
                    Ok(p) => break p.wait(),
                    Err((Error::Overloaded { retry_after, .. }, Some(back))) => {
                        rec = back;
                        std::thread::sleep(retry_after.min(Duration::from_millis(10)));
                    }
                    Err((e, _)) => break Err(e),
                }
            },
        };
        Some(r)
    }
}
