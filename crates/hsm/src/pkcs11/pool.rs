//! A fixed pool of logged-in read-write sessions on one token, sized for the cores.
//!
//! Guarantees: a PKCS#11 session is used by one thread at a time (cryptoki's `Session` is
//! `Send`, not `Sync`; a borrowed session is returned to the pool when its guard drops);
//! taking a session blocks until one is free, and [`SessionPool::try_get`] never blocks, so
//! code that must not wait (destroying an evicted object while the caller holds a session)
//! never deadlocks. Sessions are closed when the pool drops, which destroys every session
//! object trent created in them (PKCS#11: session objects live as long as their session).

use std::ops::Deref;
use std::sync::{Condvar, Mutex};

use cryptoki::session::Session;

pub(crate) struct SessionPool {
    idle: Mutex<Vec<Session>>,
    freed: Condvar,
}

impl SessionPool {
    pub(crate) fn new(sessions: Vec<Session>) -> SessionPool {
        SessionPool {
            idle: Mutex::new(sessions),
            freed: Condvar::new(),
        }
    }

    /// A session, waiting for one to be free.
    pub(crate) fn get(&self) -> Pooled<'_> {
        let mut idle = self.idle.lock().expect("session pool lock");
        loop {
            if let Some(session) = idle.pop() {
                return Pooled {
                    pool: self,
                    session: Some(session),
                };
            }
            idle = self.freed.wait(idle).expect("session pool lock");
        }
    }

    /// A session if one is free now.
    pub(crate) fn try_get(&self) -> Option<Pooled<'_>> {
        let session = self.idle.lock().expect("session pool lock").pop()?;
        Some(Pooled {
            pool: self,
            session: Some(session),
        })
    }

    /// Closes every idle session (all of them, once no operation is running).
    pub(crate) fn close_all(&self) {
        let sessions = std::mem::take(&mut *self.idle.lock().expect("session pool lock"));
        for session in sessions {
            if let Err(e) = session.close() {
                tracing::warn!(error = %e, "closing a PKCS#11 session failed");
            }
        }
    }
}

/// A session borrowed from the pool; returned when dropped.
pub(crate) struct Pooled<'a> {
    pool: &'a SessionPool,
    session: Option<Session>,
}

impl Deref for Pooled<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
            .as_ref()
            .expect("a pooled session until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool
                .idle
                .lock()
                .expect("session pool lock")
                .push(session);
            self.pool.freed.notify_one();
        }
    }
}
