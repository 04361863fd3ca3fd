//! A backend that records operations and keeps a model of the kernel instead
//! of programming it: for tests of the layers above (planed wiring, control
//! socket) without root or namespaces.
//!
//! The model is [`Observed`] updated by [`apply_to_observed`], so the task's
//! behaviour (incremental plans, snapshots, restarts) is the same as with the
//! kernel. Never fails an operation unless told to by `fail_if`.

use tokio::sync::mpsc;

use crate::backend::{Backend, BackendError, OpError};
use crate::reconcile::{apply_to_observed, Op};
use crate::state::Observed;

/// Records every executed batch of operations on `log`.
pub struct RecordingBackend {
    model: Observed,
    log: mpsc::UnboundedSender<Vec<Op>>,
    fail_if: fn(&Op) -> bool,
}

impl RecordingBackend {
    /// A backend over an empty model; executed batches are sent on the
    /// returned receiver.
    pub fn new() -> (RecordingBackend, mpsc::UnboundedReceiver<Vec<Op>>) {
        Self::with_model(Observed::default(), |_| false)
    }

    /// A backend over a given model (e.g. what a previous run left), failing
    /// every operation for which `fail_if` is true (as the kernel would with
    /// an error), so that error paths can be tested.
    pub fn with_model(
        model: Observed,
        fail_if: fn(&Op) -> bool,
    ) -> (RecordingBackend, mpsc::UnboundedReceiver<Vec<Op>>) {
        let (log, rx) = mpsc::unbounded_channel();
        (
            RecordingBackend {
                model,
                log,
                fail_if,
            },
            rx,
        )
    }
}

impl Backend for RecordingBackend {
    async fn observe(&mut self) -> Result<Observed, BackendError> {
        Ok(self.model.clone())
    }

    async fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), OpError>> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            if (self.fail_if)(op) {
                out.push(Err(OpError::Kernel {
                    errno: libc::EINVAL,
                }));
            } else {
                apply_to_observed(&mut self.model, op);
                out.push(Ok(()));
            }
        }
        let _ = self.log.send(ops.to_vec());
        out
    }
}
