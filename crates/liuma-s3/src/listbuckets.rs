//! ListBuckets pagination (AWS, 2024): `max-buckets` (1..=10000),
//! `continuation-token`, `prefix` and `bucket-region`. Without
//! `max-buckets` every bucket comes in one page, as before. The token is
//! opaque to clients: the last name returned, encoded like ListObjectsV2's.

use s3s::{S3Result, s3_error};

use crate::conv::{key_of_token, token_for};

/// Largest `max-buckets` AWS accepts.
const MAX_BUCKETS: i32 = 10_000;

/// Which part of the (name-ordered) bucket list one request gets.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    max: usize,
    after: Option<String>,
    /// `bucket-region` names another region: no bucket is there.
    elsewhere: bool,
}

impl Page {
    /// The page a request asks for; `region` is this endpoint's region.
    pub(crate) fn of(
        max_buckets: Option<i32>,
        token: Option<&str>,
        bucket_region: Option<&str>,
        region: &str,
    ) -> S3Result<Page> {
        let max = match max_buckets {
            None => usize::MAX,
            Some(n) if (1..=MAX_BUCKETS).contains(&n) => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Argument max-buckets must be an integer between 1 and {MAX_BUCKETS}"
                ));
            }
        };
        let after = match token.filter(|t| !t.is_empty()) {
            Some(t) => Some(key_of_token(t).map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect"
                )
            })?),
            None => None,
        };
        Ok(Page {
            max,
            after,
            elsewhere: bucket_region.is_some_and(|r| !r.is_empty() && r != region),
        })
    }

    /// The buckets of this page (from `all`, in name order) and the token
    /// for the next page when more follow.
    pub(crate) fn take<T>(
        &self,
        all: impl Iterator<Item = T>,
        name: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Option<String>) {
        if self.elsewhere {
            return (Vec::new(), None);
        }
        let mut rest = all.filter(|b| self.after.as_deref().is_none_or(|a| name(b) > a));
        let page: Vec<T> = rest.by_ref().take(self.max).collect();
        let next = match (page.last(), rest.next()) {
            (Some(last), Some(_)) => Some(token_for(name(last))),
            _ => None,
        };
        (page, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Page, all: &[&str]) -> (Vec<String>, Option<String>) {
        let (v, next) = p.take(all.iter().map(|s| (*s).to_owned()), |s| s.as_str());
        (v, next)
    }

    #[test]
    fn pages_through_in_order() {
        let all = ["a", "b", "c", "d", "e"];
        let p = Page::of(Some(2), None, None, "us-east-1").unwrap();
        let (first, tok) = names(&p, &all);
        assert_eq!(first, ["a", "b"]);
        let p = Page::of(Some(2), tok.as_deref(), None, "us-east-1").unwrap();
        let (second, tok) = names(&p, &all);
        assert_eq!(second, ["c", "d"]);
        let p = Page::of(Some(2), tok.as_deref(), None, "us-east-1").unwrap();
        let (third, tok) = names(&p, &all);
        assert_eq!((third, tok), (vec!["e".to_owned()], None));
        // exactly a full last page: no token
        let p = Page::of(Some(5), None, None, "us-east-1").unwrap();
        assert_eq!(names(&p, &all).1, None);
        let p = Page::of(None, None, None, "us-east-1").unwrap();
        assert_eq!(names(&p, &all).0.len(), 5);
    }

    #[test]
    fn bad_arguments_and_other_regions() {
        for bad in [0, -1, 10_001] {
            let e = Page::of(Some(bad), None, None, "us-east-1").unwrap_err();
            assert_eq!(e.code().as_str(), "InvalidArgument");
        }
        let e = Page::of(None, Some("!!"), None, "us-east-1").unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidArgument");
        let p = Page::of(None, None, Some("eu-west-1"), "us-east-1").unwrap();
        assert_eq!(names(&p, &["a"]).0.len(), 0);
        let p = Page::of(None, None, Some("us-east-1"), "us-east-1").unwrap();
        assert_eq!(names(&p, &["a"]).0.len(), 1);
    }
}
