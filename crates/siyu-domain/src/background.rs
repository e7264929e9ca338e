//! Heavy work no request waits for (an analytics fold, its snapshot, a model fit) on a thread of
//! its own at a lower CPU priority: on a small machine the work with a deadline (journey timers,
//! requests, ingestion) goes first, and the heavy work takes the time left over.

/// How much lower the heavy work's threads run than the rest (Linux `nice`): enough for the
/// scheduler to prefer everything else, not so much that the work starves under steady load.
const NICE: i32 = 10;

/// Runs `work` on a new thread named `name` at a lower priority: its result, or what went wrong
/// (the panic's message, or why no thread could be started).
pub async fn run<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (done, result) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new().name(format!("siyu-{name}")).spawn(move || {
        lower_priority();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|payload| {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            format!("panicked: {text}")
        });
        // A dropped receiver (the caller gave up) leaves nothing to tell.
        let _ = done.send(outcome);
    });
    match started {
        Ok(_) => result.await.map_err(|_| "the thread ended without an answer".to_string())?,
        Err(error) => Err(format!("could not start a thread: {error}")),
    }
}

/// This thread's id (on Linux a thread has its own nice value, set through it).
#[cfg(target_os = "linux")]
fn this_thread() -> Option<rustix::process::Pid> {
    Some(rustix::thread::gettid())
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // Never raised: a process started lower than this stays where it is.
    let now = rustix::process::getpriority_process(this_thread()).unwrap_or(0);
    if now < NICE
        && let Err(error) = rustix::process::setpriority_process(this_thread(), NICE)
    {
        tracing::debug!(%error, "could not lower a background thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_at_a_lower_priority_and_a_panic_is_told() {
        #[cfg(target_os = "linux")]
        {
            let nice = super::run("test", || rustix::process::getpriority_process(super::this_thread())).await;
            let nice = nice.expect("the thread").expect("the thread's priority");
            assert!(nice >= super::NICE, "nice {nice}");
        }
        assert_eq!(super::run("test", || 7).await, Ok(7));
        assert_eq!(super::run("test", || -> u8 { panic!("on purpose") }).await, Err("panicked: on purpose".into()));
        let n = 3;
        assert_eq!(super::run("test", move || -> u8 { panic!("{n} apples") }).await, Err("panicked: 3 apples".into()));
    }
}
