//! Per-credential quotas of chunk sessions: how many a backend
//! credential's tokens may hold open, and how many bytes they may park.
//!
//! A session is charged to the credential whose token opened it (the
//! engine keeps the owner and the bytes in the upload record), so a
//! credential's usage is one range read of the bucket's open upload
//! records. It runs when a credential's token opens a session, and on
//! every chunk only for a credential with a byte limit.

use liuma_engine::UploadSession;

use crate::backend;
use crate::error::{ApiError, Result};
use crate::state::NativeState;
use crate::token::Claims;

/// Upload records read to count a credential's sessions (a bound on the scan).
const QUOTA_SCAN: usize = 100_000;

/// Who a session is charged to: the credential that minted the token.
pub(super) fn owner(claims: &Claims) -> String {
    claims
        .minter
        .as_ref()
        .map_or_else(|| "system".to_owned(), |m| m.0.clone())
}

/// Is `s` charged to credential `id`?
fn charged_to(s: &UploadSession, id: &str) -> bool {
    s.owner == id
}

/// A credential's open sessions and the bytes they hold, against its quota.
pub(super) struct Usage {
    sessions: u64,
    /// Bytes its open sessions hold.
    pub(super) parked: u64,
    max_sessions: Option<u64>,
    /// Its limit of parked bytes.
    pub(super) max_parked: Option<u64>,
}

impl Usage {
    /// Usage of the token's credential (the system token has no quota).
    /// Counting reads every open upload record of the bucket once, so it
    /// runs only when a limit applies.
    pub(super) async fn of(s: &NativeState, claims: &Claims, new_session: bool) -> Result<Usage> {
        let mut u = Usage {
            sessions: 0,
            parked: 0,
            max_sessions: None,
            max_parked: None,
        };
        let Some((id, _)) = &claims.minter else {
            return Ok(u);
        };
        let Some(cred) = backend::get(&s.engine, id).await? else {
            return Err(ApiError::CredentialRevoked);
        };
        u.max_sessions = Some(u64::from(
            cred.max_sessions.unwrap_or(backend::DEFAULT_MAX_SESSIONS),
        ));
        u.max_parked = cred.max_parked_bytes;
        if !new_session && u.max_parked.is_none() {
            return Ok(u);
        }
        let list = s.engine.list_uploads(s.bucket(), "", QUOTA_SCAN).await?;
        for up in &list.uploads {
            if let Some(sess) = up.session.as_ref().filter(|x| charged_to(x, id)) {
                u.sessions += 1;
                u.parked = u.parked.saturating_add(sess.stored_bytes);
            }
        }
        Ok(u)
    }

    pub(super) fn check_new_session(&self) -> Result<()> {
        if let Some(max) = self.max_sessions
            && self.sessions >= max
        {
            return Err(ApiError::TooManySessions {
                open: self.sessions,
            });
        }
        self.check_bytes(0)
    }

    pub(super) fn check_bytes(&self, adding: u64) -> Result<()> {
        if let Some(max) = self.max_parked
            && self.parked.saturating_add(adding) > max
        {
            return Err(ApiError::QuotaExceeded {
                parked: self.parked.saturating_add(adding),
                max,
            });
        }
        Ok(())
    }

    /// Bytes a chunk may still bring.
    pub(super) fn room(&self) -> u64 {
        self.max_parked
            .map_or(u64::MAX, |m| m.saturating_sub(self.parked))
    }
}
