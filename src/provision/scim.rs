//! The `scim` target (docs/targets.md): a SCIM 2.0 client (RFC 7643 / 7644) that brings
//! an app's User, and its membership of the groups provisiond manages, to the event's state.
//!
//! The user is known to the app by `externalId = "{source}:{employee_id}"`. Every change
//! starts with a lookup by that id, so applying an event twice, or replaying it, changes
//! nothing more:
//! - created / updated (and rehired): PUT the full User over the one found, else POST it. A
//!   POST answered 409 (the `userName` is taken) looks the user up again, by `externalId`
//!   (a concurrent worker created it) then by `userName` (the app had it before provisiond),
//!   and PUTs over it: provisiond never creates a second user. A user with that `userName`
//!   but another `externalId` is someone else's and is left alone (a permanent error).
//! - groups: each wanted group is found by `displayName` (created if missing) and the user
//!   PATCHed in unless already listed; from every other managed group the user is PATCHed
//!   out. Groups provisiond does not manage are never touched.
//! - terminated: PATCH `active = false` (skipped when the user is inactive already), or
//!   DELETE with `deprovision = "delete"`; a user that is not there has nothing to revoke.

mod client;
mod resource;

use std::fmt;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::targets::ScimOptions;
use crate::domain::event::CanonicalEvent;
use crate::provision::error::TargetError;
use client::{Answer, ScimClient};
use resource::{FoundGroup, FoundUser};

pub use crate::config::targets::Deprovision;

/// A configured `scim` target. Its `Debug` shows neither the token nor URL credentials.
pub struct ScimTarget {
    name: String,
    client: ScimClient,
    deprovision: Deprovision,
}

impl ScimTarget {
    /// The `[[targets]]` entry `name` of kind "scim"; only building the client can fail.
    pub fn new(name: &str, options: &ScimOptions) -> Result<ScimTarget, String> {
        let base = options.base_url.clone();
        Ok(ScimTarget {
            name: name.to_string(),
            client: ScimClient::new(name, base, &options.token, options.timeout)?,
            deprovision: options.deprovision,
        })
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.client.timeout()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn deprovision(&self) -> Deprovision {
        self.deprovision
    }

    /// Bring the app to the event's state. `groups` are the groups this employee should be
    /// in; `managed_groups` every group provisiond manages (the user is removed from those
    /// not in `groups`; other groups are left alone). No managed groups: no group changes.
    pub async fn apply(
        &self,
        source: &str,
        event: &CanonicalEvent,
        groups: &[String],
        managed_groups: &[String],
    ) -> Result<(), TargetError> {
        let external_id = format!("{source}:{}", event.employee_id);
        if !event.kind.is_active() {
            return self.revoke(&external_id).await;
        }
        let user = resource::user_resource(&external_id, event);
        let user_id = self.upsert_user(&external_id, user).await?;
        if !managed_groups.is_empty() {
            self.sync_groups(&user_id, groups, managed_groups).await?;
        }
        Ok(())
    }

    /// The user's id after PUT over the user found, or POST of a new one.
    async fn upsert_user(&self, external_id: &str, user: Value) -> Result<String, TargetError> {
        match self.find_user("externalId", external_id).await? {
            Some(found) => self.replace_user(&found.id, user).await,
            None => self.create_user(external_id, user).await,
        }
    }

    async fn create_user(&self, external_id: &str, user: Value) -> Result<String, TargetError> {
        let url = self.client.endpoint(&["Users"]);
        let answer = self.client.send(Method::POST, url, Some(&user)).await?;
        if answer.status == StatusCode::CONFLICT {
            let user_name = user["userName"].as_str().unwrap_or(external_id);
            return match self.find_holder(external_id, user_name).await? {
                Some(found) => self.replace_user(&found.id, user).await,
                None => Err(answer.into_error()),
            };
        }
        let answer = answer.success()?;
        match resource::resource_id(&answer.json()?) {
            Ok(id) => Ok(id),
            // Created, but the answer does not say as what: find it.
            Err(_) => match self.find_user("externalId", external_id).await? {
                Some(found) => Ok(found.id),
                None => Err(answer.permanent("created a user that no lookup finds")),
            },
        }
    }

    /// After a 409 on create: the user that holds the `externalId` or the `userName`. A user
    /// holding the `userName` under another `externalId` belongs to someone else.
    async fn find_holder(
        &self,
        external_id: &str,
        user_name: &str,
    ) -> Result<Option<FoundUser>, TargetError> {
        if let Some(found) = self.find_user("externalId", external_id).await? {
            return Ok(Some(found));
        }
        let Some(found) = self.find_user("userName", user_name).await? else {
            return Ok(None);
        };
        match found.external_id.as_deref() {
            Some(other) if !other.is_empty() && other != external_id => {
                Err(TargetError::Permanent {
                    message: format!(
                        "scim target `{}`: userName `{user_name}` belongs to the user `{}` \
                         whose externalId is `{other}`, not `{external_id}`",
                        self.name, found.id
                    ),
                })
            }
            _ => Ok(Some(found)),
        }
    }

    /// PUT the whole user over `id` (RFC 7644 §3.5.1), which also reactivates a rehire.
    async fn replace_user(&self, id: &str, mut user: Value) -> Result<String, TargetError> {
        if let Value::Object(fields) = &mut user {
            fields.insert("id".into(), id.into());
        }
        let url = self.client.endpoint(&["Users", id]);
        let answer = self.client.send(Method::PUT, url, Some(&user)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            // Deleted between the lookup and the PUT: the next attempt creates it.
            return Err(answer.transient("the user was deleted during the update"));
        }
        answer.success()?;
        Ok(id.to_string())
    }

    async fn revoke(&self, external_id: &str) -> Result<(), TargetError> {
        let Some(user) = self.find_user("externalId", external_id).await? else {
            return Ok(());
        };
        let url = self.client.endpoint(&["Users", &user.id]);
        match self.deprovision {
            Deprovision::Delete => {
                let answer = self.client.send(Method::DELETE, url, None).await?;
                if answer.status == StatusCode::NOT_FOUND {
                    return Ok(());
                }
                answer.success().map(drop)
            }
            Deprovision::Deactivate if user.active == Some(false) => Ok(()),
            Deprovision::Deactivate => {
                let by_path = resource::deactivate_by_path();
                let answer = self.client.send(Method::PATCH, url.clone(), Some(&by_path));
                let answer = answer.await?;
                match answer.status {
                    StatusCode::NOT_FOUND => Ok(()),
                    // A server that takes no attribute path: the whole-value form.
                    StatusCode::BAD_REQUEST
                    | StatusCode::METHOD_NOT_ALLOWED
                    | StatusCode::NOT_IMPLEMENTED => {
                        let by_value = resource::deactivate_by_value();
                        let answer = self.client.send(Method::PATCH, url, Some(&by_value));
                        answer.await?.success().map(drop)
                    }
                    _ => answer.success().map(drop),
                }
            }
        }
    }

    async fn sync_groups(
        &self,
        user_id: &str,
        groups: &[String],
        managed_groups: &[String],
    ) -> Result<(), TargetError> {
        let wanted = unique(groups);
        for name in &wanted {
            self.join_group(user_id, name).await?;
        }
        for name in unique(managed_groups) {
            if !wanted.contains(&name) {
                self.leave_group(user_id, name).await?;
            }
        }
        Ok(())
    }

    /// Find or create the group, then add the user unless it is listed already.
    async fn join_group(&self, user_id: &str, name: &str) -> Result<(), TargetError> {
        let group = match self.find_group(name).await? {
            Some(group) => group,
            None => self.create_group(name).await?,
        };
        if group.has_member(user_id) == Some(true) {
            return Ok(());
        }
        let add = resource::add_member(user_id);
        self.patch_group(&group.id, &add).await?.success().map(drop)
    }

    /// Remove the user from the group if it is (or may be) a member; a missing group is fine.
    async fn leave_group(&self, user_id: &str, name: &str) -> Result<(), TargetError> {
        let Some(group) = self.find_group(name).await? else {
            return Ok(());
        };
        let known = group.has_member(user_id);
        if known == Some(false) {
            return Ok(());
        }
        let remove = resource::remove_member(user_id);
        let answer = self.patch_group(&group.id, &remove).await?;
        // The members were not listed, and the user was not one of them after all.
        let no_target = answer.status == StatusCode::BAD_REQUEST
            && answer
                .json()
                .is_ok_and(|body| resource::scim_type(&body) == Some("noTarget"));
        if known.is_none() && no_target {
            return Ok(());
        }
        answer.success().map(drop)
    }

    async fn patch_group(&self, group_id: &str, patch: &Value) -> Result<Answer, TargetError> {
        let url = self.client.endpoint(&["Groups", group_id]);
        self.client.send(Method::PATCH, url, Some(patch)).await
    }

    async fn create_group(&self, name: &str) -> Result<FoundGroup, TargetError> {
        let url = self.client.endpoint(&["Groups"]);
        let group = resource::group_resource(name);
        let answer = self.client.send(Method::POST, url, Some(&group)).await?;
        if answer.status == StatusCode::CONFLICT {
            // Created meanwhile by someone else.
            return match self.find_group(name).await? {
                Some(group) => Ok(group),
                None => Err(answer.into_error()),
            };
        }
        let answer = answer.success()?;
        let id = resource::resource_id(&answer.json()?).map_err(|e| answer.permanent(e))?;
        Ok(FoundGroup {
            id,
            members: Some(Vec::new()),
        })
    }

    async fn find_user(
        &self,
        attribute: &str,
        value: &str,
    ) -> Result<Option<FoundUser>, TargetError> {
        let found = self.search("Users", attribute, value).await?;
        found
            .map(|(answer, resource)| FoundUser::read(&resource).map_err(|e| answer.permanent(e)))
            .transpose()
    }

    async fn find_group(&self, name: &str) -> Result<Option<FoundGroup>, TargetError> {
        let found = self.search("Groups", "displayName", name).await?;
        found
            .map(|(answer, resource)| FoundGroup::read(&resource).map_err(|e| answer.permanent(e)))
            .transpose()
    }

    /// The first resource matching `attribute eq "value"`, with the answer that held it.
    async fn search(
        &self,
        endpoint: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Option<(Answer, Value)>, TargetError> {
        let url = self
            .client
            .search(endpoint, &resource::eq_filter(attribute, value));
        let answer = self.client.send(Method::GET, url, None).await?.success()?;
        let body = answer.json()?;
        let resources = resource::list_resources(&body).map_err(|e| answer.permanent(e))?;
        if resources.len() > 1 {
            tracing::warn!(
                target_name = %self.name,
                endpoint,
                attribute,
                matches = resources.len(),
                "several SCIM resources match; using the first"
            );
        }
        let first = resources.first().cloned();
        Ok(first.map(|resource| (answer, resource)))
    }
}

/// Each name once, in their first order.
fn unique(names: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for name in names {
        if !seen.contains(&name.as_str()) {
            seen.push(name);
        }
    }
    seen
}

impl fmt::Debug for ScimTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimTarget")
            .field("name", &self.name)
            .field("base_url", self.client.base())
            .field("token", &"<redacted>")
            .field("deprovision", &self.deprovision)
            .field("timeout", &self.client.timeout())
            .finish()
    }
}

#[cfg(test)]
mod tests;
