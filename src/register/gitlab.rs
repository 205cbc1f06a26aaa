//! The calls `register` makes to GitLab's REST API (`/api/v4`), over `transport`. Facts:
//! GitLab `lib/api/ci/runners.rb` (the runner endpoints, the list filters `type`, `tag_list`,
//! `status`, `paused`; `GET /groups/:id/runners` lists the group's and its ancestors' runners,
//! `GET /projects/:id/runners` the project's), `lib/api/user_runners.rb` (`POST
//! /user/runners`), `lib/api/entities/ci/runner.rb` (a list entry: no note, no tags, no owner)
//! and `runner_details.rb` (`GET /runners/:id`: the note, the tags and the `groups`), and
//! `lib/gitlab/pagination/offset_pagination.rb` (offset pages with `X-Next-Page`, empty on the
//! last page).

use super::transport::{Answer, Transport};
pub use super::transport::{ApiError, Secret};
use serde_json::Value;
use std::collections::BTreeSet;

/// The most pages one listing may take (100 runners each): a server that never stops paging
/// ends the run here instead of running on.
pub const MAX_PAGES: u32 = 200;
/// Runners per page (GitLab's maximum).
const PER_PAGE: u32 = 100;

pub struct GitLab {
    http: Transport,
}

impl GitLab {
    /// A client of the GitLab at `base_url` (with or without a trailing slash); only https.
    pub fn new(base_url: &str, token: Secret) -> Result<Self, ApiError> {
        Ok(GitLab {
            http: Transport::new(base_url, token)?,
        })
    }

    /// How many requests were sent, retries included.
    pub fn requests(&self) -> usize {
        self.http.requests()
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, ApiError> {
        self.http.call(method, path, body)
    }

    /// Every entry of a listing (`path` with its query), page by page: each page must be the
    /// one after the last (`X-Next-Page`), hold runners no earlier page held, and the listing
    /// must end within `MAX_PAGES`.
    pub fn list(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut page: u32 = 1;
        loop {
            let at = format!("{path}&per_page={PER_PAGE}&page={page}");
            let answer = self.call("GET", &at, None)?;
            let Some(items) = answer.body.as_array() else {
                return Err(ApiError::new(format!("GET {at}: the answer is not a list")));
            };
            for item in items {
                if let Some(id) = item["id"].as_u64()
                    && !seen.insert(id)
                {
                    return Err(ApiError::new(format!(
                        "GET {at}: page {page} repeats runner {id} of an earlier page; \
                         the listing is not advancing"
                    )));
                }
            }
            out.extend(items.iter().cloned());
            let Some(next) = answer.next_page else {
                return Ok(out);
            };
            let next = self.http.mask(&next);
            if next.parse::<u32>().ok() != page.checked_add(1) {
                return Err(ApiError::new(format!(
                    "GET {at}: GitLab names page `{next}` after page {page}; pages must advance \
                     one at a time"
                )));
            }
            if items.is_empty() || page >= MAX_PAGES {
                return Err(ApiError::new(format!(
                    "GET {at}: still more pages after {page} ({} runners); stopped at the \
                     limit of {MAX_PAGES} pages",
                    out.len()
                )));
            }
            page += 1;
        }
    }

    /// The runners of type `runner_type` a group or project lists (a group's include its
    /// ancestors'): `GET /groups/:id/runners?type=…` or `GET /projects/:id/runners?type=…`.
    pub fn namespace_runners(
        &self,
        kind: &str,
        id: u64,
        runner_type: &str,
    ) -> Result<Vec<Value>, ApiError> {
        self.list(&format!("/{kind}/{id}/runners?type={runner_type}"))
    }

    /// `GET /runners/:id`: the runner's details, its note, tags and groups among them.
    pub fn runner(&self, id: u64) -> Result<Value, ApiError> {
        Ok(self.call("GET", &format!("/runners/{id}"), None)?.body)
    }

    /// The numeric ID of a group or project by its full path (`/` URL-encoded as `%2F`).
    pub fn namespace_id(&self, kind: &str, path: &str) -> Result<u64, ApiError> {
        let encoded = path.replace('%', "%25").replace('/', "%2F");
        let v = self.call("GET", &format!("/{kind}/{encoded}"), None)?.body;
        v["id"]
            .as_u64()
            .ok_or_else(|| ApiError::new(format!("GET /{kind}/{encoded}: no id in the answer")))
    }

    /// `POST /user/runners`: the new runner's ID and its authentication token.
    pub fn create(&self, body: &Value) -> Result<(u64, Secret), ApiError> {
        let v = self.call("POST", "/user/runners", Some(body))?.body;
        match (v["id"].as_u64(), v["token"].as_str()) {
            (Some(id), Some(t)) => Ok((id, Secret::new(t.to_owned()))),
            _ => Err(ApiError::new(
                "POST /user/runners: no id and token in the answer",
            )),
        }
    }

    /// `PUT /runners/:id` with the fields that changed.
    pub fn update(&self, id: u64, fields: &Value) -> Result<(), ApiError> {
        self.call("PUT", &format!("/runners/{id}"), Some(fields))
            .map(|_| ())
    }

    /// `DELETE /runners/:id`.
    pub fn delete(&self, id: u64) -> Result<(), ApiError> {
        self.call("DELETE", &format!("/runners/{id}"), None)
            .map(|_| ())
    }

    /// `POST /runners/:id/reset_authentication_token`: a new token; the old one stops working.
    pub fn reset_token(&self, id: u64) -> Result<Secret, ApiError> {
        let path = format!("/runners/{id}/reset_authentication_token");
        let v = self.call("POST", &path, None)?.body;
        v["token"]
            .as_str()
            .map(|t| Secret::new(t.to_owned()))
            .ok_or_else(|| ApiError::new(format!("POST {path}: no token in the answer")))
    }
}
