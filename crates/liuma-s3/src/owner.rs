//! S3 `Owner` and `Initiator` fields: the owning user's canonical id and
//! display name. The engine's records name owners by user name; a name
//! that is no user (a store whose owners are not moved to users yet, or an
//! owner deleted meanwhile) shows as itself.

use std::collections::HashMap;

use liuma_engine::{BucketInfo, Engine, ObjectInfo, User};
use s3s::S3Result;
use s3s::dto::{Initiator, Owner};

use crate::error::s3_err;

/// The `Owner` of what `user` owns.
pub(crate) fn of_user(user: &User) -> Owner {
    Owner {
        display_name: Some(user.display_name().to_owned()),
        id: Some(user.canonical_id.clone()),
    }
}

/// The canonical user of a user name, for ACLs and the access decision
/// (a name that is no user, e.g. an owner deleted meanwhile: itself).
pub(crate) async fn canonical(
    engine: &Engine,
    name: &str,
) -> S3Result<liuma_policy::CanonicalUser> {
    Ok(match engine.get_user(name).await.map_err(s3_err)? {
        Some(u) => liuma_policy::CanonicalUser {
            id: u.canonical_id,
            display_name: u.name,
        },
        None => liuma_policy::CanonicalUser {
            id: name.to_owned(),
            display_name: name.to_owned(),
        },
    })
}

/// The user name owning an object version: its writer, or (versions
/// written before users existed) the bucket's owner.
pub(crate) fn object_owner<'a>(o: &'a ObjectInfo, b: &'a BucketInfo) -> &'a str {
    if o.owner.is_empty() {
        &b.owner
    } else {
        &o.owner
    }
}

/// Owners looked up by user name, each user read once per request.
pub(crate) struct Owners<'a> {
    engine: &'a Engine,
    known: HashMap<String, Owner>,
}

impl<'a> Owners<'a> {
    pub(crate) fn new(engine: &'a Engine) -> Self {
        Owners {
            engine,
            known: HashMap::new(),
        }
    }

    /// The `Owner` for user `name`.
    pub(crate) async fn of(&mut self, name: &str) -> S3Result<Owner> {
        if let Some(o) = self.known.get(name) {
            return Ok(o.clone());
        }
        let owner = match self.engine.get_user(name).await.map_err(s3_err)? {
            Some(u) => of_user(&u),
            None => Owner {
                display_name: Some(name.to_owned()),
                id: Some(name.to_owned()),
            },
        };
        self.known.insert(name.to_owned(), owner.clone());
        Ok(owner)
    }

    /// The `Initiator` (of a multipart upload) for user `name`.
    pub(crate) async fn initiator(&mut self, name: &str) -> S3Result<Initiator> {
        let o = self.of(name).await?;
        Ok(Initiator {
            display_name: o.display_name,
            id: o.id,
        })
    }
}
