//! The process-wide reactor behind [`Blocking`](crate::Blocking): one
//! thread, named `phoenix-socket`, drives every socket launched without a
//! thread of its own. It starts with the first such socket and ends once
//! the last one has stopped; the next launch starts a new one.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use phoenix_proto::api::SocketTask;
use phoenix_proto::client::handler::Handler;

use crate::driven::{BlockingSteps, Driven};
use crate::reactor::{Reactor, Wakeups};

/// The name of the reactor's thread.
pub(crate) const THREAD_NAME: &str = "phoenix-socket";

/// The running reactor's wakeups, if one runs.
static HUB: Mutex<Option<Arc<Wakeups>>> = Mutex::new(None);

/// The hub, even after a panic while it was held (every change to it is a
/// single assignment).
fn hub() -> MutexGuard<'static, Option<Arc<Wakeups>>> {
    HUB.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands `task` to the reactor, starting it if none runs.
///
/// # Errors
/// No reactor could be started (no poller, or no thread): the task is
/// dropped, and every handle sees the socket gone.
pub(crate) fn launch<H>(task: SocketTask<H>) -> io::Result<()>
where
    H: Handler + Send + 'static,
    H::Info: Send + 'static,
    H::Call: Send + 'static,
    H::Reply: Send + 'static,
{
    let mut hub = hub();
    let wakeups = match &*hub {
        Some(wakeups) => wakeups.clone(),
        None => {
            let wakeups = Arc::new(Wakeups::new()?);
            start(wakeups.clone())?;
            *hub = Some(wakeups.clone());
            wakeups
        }
    };
    let socket = Driven::new(
        task,
        wakeups.poller.clone(),
        BlockingSteps::Pool(wakeups.clone()),
    );
    // Under the hub's lock: the reactor cannot end between the look above
    // and this launch (it asks under the same lock).
    wakeups.launch(Box::new(socket));
    Ok(())
}

fn start(wakeups: Arc<Wakeups>) -> io::Result<()> {
    thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            let _retire = Retire(wakeups.clone());
            // Leaves the hub under its lock, so a launch either comes
            // before (and is driven) or finds no reactor and starts one.
            Reactor::new(wakeups.clone()).run(|| {
                let mut hub = hub();
                let done = wakeups.no_launches();
                if done {
                    retire(&mut hub, &wakeups);
                }
                done
            });
        })
        .map(drop)
}

/// Takes the reactor of `wakeups` out of the hub: the next launch starts
/// a new one.
fn retire(hub: &mut Option<Arc<Wakeups>>, wakeups: &Arc<Wakeups>) {
    if hub
        .as_ref()
        .is_some_and(|running| Arc::ptr_eq(running, wakeups))
    {
        *hub = None;
    }
}

/// Retires a reactor whose thread ends by a panic (a bug of ours: a
/// handler's panic ends only its socket).
struct Retire(Arc<Wakeups>);

impl Drop for Retire {
    fn drop(&mut self) {
        retire(&mut hub(), &self.0);
    }
}
