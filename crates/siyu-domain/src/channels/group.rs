//! Group commit for the send path: concurrent sends of one workspace queue their reservation (or
//! their recorded outcome) and one task writes everything that queued in one transaction, as the
//! customers' write group does for profiles — on SQLite's single writer, a send then costs a share
//! of a commit instead of a commit of its own. Each caller gets its own answer; the commit runs in
//! a task of its own, so a caller that goes away abandons nobody's write half-way.

use siyu_core::{StoreError, WorkspaceId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Waiting<Q, A> = Vec<(Q, oneshot::Sender<Result<A, String>>)>;

struct Group<Q, A> {
    /// Requests waiting for a commit, in arrival order.
    waiting: Mutex<Waiting<Q, A>>,
    /// Held by the task committing; the next one takes everything that queued meanwhile.
    writer: tokio::sync::Mutex<()>,
}

/// One queue per workspace of requests committed together.
pub(crate) struct Groups<Q, A> {
    workspaces: Mutex<HashMap<WorkspaceId, Arc<Group<Q, A>>>>,
}

impl<Q, A> Default for Groups<Q, A> {
    fn default() -> Self {
        Self { workspaces: Mutex::default() }
    }
}

impl<Q: Send + 'static, A: Send + 'static> Groups<Q, A> {
    /// Queues `request` and returns its answer once `commit` (given every request that queued,
    /// answering each in order) has written it with the others.
    pub(crate) async fn run<F, Fut>(&self, ws: WorkspaceId, request: Q, commit: F) -> Result<A, StoreError>
    where
        F: FnOnce(Vec<Q>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<A>, StoreError>> + Send + 'static,
    {
        let group = {
            let mut all = self.workspaces.lock().expect("send group lock is never poisoned");
            all.entry(ws)
                .or_insert_with(|| Arc::new(Group { waiting: Mutex::default(), writer: tokio::sync::Mutex::new(()) }))
                .clone()
        };
        let (reply, answer) = oneshot::channel();
        group.waiting.lock().expect("send queue lock is never poisoned").push((request, reply));
        tokio::spawn(async move {
            let _turn = group.writer.lock().await;
            let waiting = std::mem::take(&mut *group.waiting.lock().expect("send queue lock is never poisoned"));
            if waiting.is_empty() {
                // An earlier task took this request with its own group.
                return;
            }
            let (requests, replies): (Vec<Q>, Vec<_>) = waiting.into_iter().unzip();
            match commit(requests).await {
                Ok(answers) if answers.len() == replies.len() => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Ok(answers) => {
                    let error = format!("a grouped write answered {} of {} requests", answers.len(), replies.len());
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
                Err(error) => {
                    let error = error.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        });
        match answer.await {
            Ok(result) => result.map_err(StoreError::Backend),
            Err(_) => Err(StoreError::Backend("the grouped write was abandoned by its commit task".into())),
        }
    }
}
