//! Organizations (superadmin), teams (organization admin) and the audit log (organization admin).

use auterity_store::OrgScope;
use auterity_types::error::FieldError;
use auterity_types::records::{AuditEntry, Effects, Organization, PageRequest, Team};
use auterity_types::{OrgId, TeamId, UserId};
use chrono::Utc;
use serde_json::json;

use crate::AuthError;
use crate::dto::{CreateOrgRequest, CreateTeamRequest, Page};
use crate::principal::Principal;
use crate::service::{AuthService, ClientContext};

impl AuthService {
    pub async fn create_org(
        &self,
        caller: &Principal,
        request: CreateOrgRequest,
        ctx: &ClientContext,
    ) -> Result<Organization, AuthError> {
        let name = request.name.trim();
        let slug = request.slug.trim().to_lowercase();
        let mut errors = Vec::new();
        if name.is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new("/name", "must be 1–200 characters"));
        }
        if !is_slug(&slug) {
            errors.push(FieldError::new("/slug", "must be 2–63 lowercase letters, digits or '-'"));
        }
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let org = Organization { id: OrgId::new(), name: name.to_owned(), slug, created_at: Utc::now() };
        let effects = Effects::none().audit(self.audit(
            Some(caller.org_id),
            caller.actor(),
            "organization.created",
            Some(org.id.to_string()),
            ctx,
            json!({"name": org.name, "slug": org.slug}),
        ));
        match self.store.orgs.create_org(&org, &effects).await {
            Ok(()) => Ok(org),
            Err(auterity_store::StoreError::Conflict(_)) => {
                Err(AuthError::Conflict("an organization with this slug already exists".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    pub async fn list_orgs(&self, page: PageRequest) -> Result<Page<Organization>, AuthError> {
        let orgs = self.store.orgs.list_orgs(page).await?;
        Ok(Page::new(orgs, page.limit, |o| o.id.0))
    }

    pub async fn get_org(&self, id: OrgId) -> Result<Organization, AuthError> {
        self.store.orgs.get_org(id).await?.ok_or(AuthError::NotFound("organization"))
    }

    pub async fn create_team(
        &self,
        caller: &Principal,
        request: CreateTeamRequest,
        ctx: &ClientContext,
    ) -> Result<Team, AuthError> {
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AuthError::field("/name", "must be 1–200 characters"));
        }
        let team = Team { id: TeamId::new(), org_id: caller.org_id, name: name.to_owned(), created_at: Utc::now() };
        let effects = Effects::none().audit(self.audit(
            Some(caller.org_id),
            caller.actor(),
            "team.created",
            Some(team.id.to_string()),
            ctx,
            json!({"name": team.name}),
        ));
        match self.store.orgs.create_team(OrgScope(caller.org_id), &team, &effects).await {
            Ok(()) => Ok(team),
            Err(auterity_store::StoreError::Conflict(_)) => {
                Err(AuthError::Conflict("a team with this name already exists".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    pub async fn list_teams(&self, caller: &Principal, page: PageRequest) -> Result<Page<Team>, AuthError> {
        let teams = self.store.orgs.list_teams(OrgScope(caller.org_id), page).await?;
        Ok(Page::new(teams, page.limit, |t| t.id.0))
    }

    pub async fn add_team_member(
        &self,
        caller: &Principal,
        team: TeamId,
        user: UserId,
        ctx: &ClientContext,
    ) -> Result<Vec<UserId>, AuthError> {
        let scope = OrgScope(caller.org_id);
        if !self.store.orgs.add_team_member(scope, team, user).await? {
            return Err(AuthError::NotFound("team or user"));
        }
        let entry = self.audit(
            Some(caller.org_id),
            caller.actor(),
            "team.member_added",
            Some(team.to_string()),
            ctx,
            json!({"user_id": user}),
        );
        self.store.audit.append_audit(&entry).await?;
        Ok(self.store.orgs.list_team_members(scope, team).await?)
    }

    pub async fn remove_team_member(
        &self,
        caller: &Principal,
        team: TeamId,
        user: UserId,
        ctx: &ClientContext,
    ) -> Result<(), AuthError> {
        if !self.store.orgs.remove_team_member(OrgScope(caller.org_id), team, user).await? {
            return Err(AuthError::NotFound("team member"));
        }
        let entry = self.audit(
            Some(caller.org_id),
            caller.actor(),
            "team.member_removed",
            Some(team.to_string()),
            ctx,
            json!({"user_id": user}),
        );
        self.store.audit.append_audit(&entry).await?;
        Ok(())
    }

    pub async fn list_team_members(&self, caller: &Principal, team: TeamId) -> Result<Vec<UserId>, AuthError> {
        Ok(self.store.orgs.list_team_members(OrgScope(caller.org_id), team).await?)
    }

    /// The organization's audit log, newest first; `after` continues from an older entry.
    pub async fn list_audit(
        &self,
        caller: &Principal,
        action: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, AuthError> {
        let entries = self.store.audit.list_audit(OrgScope(caller.org_id), action, page).await?;
        Ok(Page::new(entries, page.limit, |e| e.id))
    }
}

fn is_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}
