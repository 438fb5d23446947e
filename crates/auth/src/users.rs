//! Accounts: the caller's own view, self sign-up, and the organization admin's user and access API.

use auterity_store::OrgScope;
use auterity_types::access::roles;
use auterity_types::error::FieldError;
use auterity_types::event::types as event_types;
use auterity_types::records::{AccessGrant, Effects, PageRequest, User};
use auterity_types::{OrgId, System, UserId};
use chrono::Utc;
use serde_json::json;

use crate::AuthError;
use crate::dto::{CreateUserRequest, GrantRequest, MeResponse, Page, RegisterRequest, UpdateUserRequest, UserView};
use crate::principal::{Credential, Principal, permissions_for};
use crate::service::{AuthService, ClientContext};

/// A new account as validated input, before it becomes a `User`.
pub struct NewAccount {
    pub org_id: OrgId,
    pub email: String,
    pub username: String,
    pub password: String,
    pub roles: Vec<String>,
    pub grants: Vec<AccessGrant>,
}

impl AuthService {
    pub async fn me(&self, caller: &Principal) -> Result<MeResponse, AuthError> {
        let scope = OrgScope(caller.org_id);
        let user = self.store.users.get_user(scope, caller.user_id).await?.ok_or(AuthError::NotFound("user"))?;
        let grants = self.store.users.list_access(scope, user.id).await?;
        let teams = self.store.orgs.list_user_teams(scope, user.id).await?;
        let mut view = UserView::new(&user, grants);
        if matches!(caller.credential, Credential::ApiKey { .. }) || caller.mfa_pending {
            // What this credential can do, not everything its owner can.
            view.systems.retain(|g| caller.systems.iter().any(|s| s.system == g.system));
            for grant in &mut view.systems {
                if let Some(level) = caller.level_for(grant.system) {
                    grant.level = level;
                }
            }
            view.roles = caller.roles.clone();
        }
        Ok(MeResponse {
            permissions: permissions_for(&caller.systems),
            teams: teams.into_iter().map(|t| t.0).collect(),
            authenticated_via: match caller.credential {
                Credential::AccessToken { .. } => "access_token".to_owned(),
                Credential::ApiKey { .. } => "api_key".to_owned(),
                Credential::System => "system".to_owned(),
            },
            user: view,
        })
    }

    /// Self sign-up into the default organization, when enabled.
    pub async fn register(
        &self,
        request: RegisterRequest,
        default_org: OrgId,
        ctx: &ClientContext,
    ) -> Result<UserView, AuthError> {
        if !self.settings.self_signup {
            return Err(AuthError::Forbidden("self sign-up is disabled; ask an administrator".into()));
        }
        let account = NewAccount {
            org_id: default_org,
            email: request.email,
            username: request.username,
            password: request.password,
            roles: vec![roles::MEMBER.to_owned()],
            grants: vec![],
        };
        let user = self.create_account(account, None, ctx).await?;
        Ok(UserView::new(&user, vec![]))
    }

    /// `POST /api/auth/users` by an organization admin.
    pub async fn admin_create_user(
        &self,
        caller: &Principal,
        request: CreateUserRequest,
        ctx: &ClientContext,
    ) -> Result<UserView, AuthError> {
        let org_id = match request.org_id {
            Some(org) if org != caller.org_id.0 => {
                if !caller.is_superadmin() {
                    return Err(AuthError::Forbidden(
                        "only a superadmin may create users in another organization".into(),
                    ));
                }
                if self.store.orgs.get_org(OrgId(org)).await?.is_none() {
                    return Err(AuthError::field("/org_id", "no such organization"));
                }
                OrgId(org)
            }
            _ => caller.org_id,
        };
        let roles = if request.roles.is_empty() { vec![roles::MEMBER.to_owned()] } else { request.roles };
        self.check_roles_assignable(caller, &roles, "/roles")?;
        let now = Utc::now();
        let grants = request
            .systems
            .iter()
            .map(|s| AccessGrant {
                system: s.system,
                level: s.level,
                resources: vec![],
                granted_at: Some(now),
                granted_by: caller.actor(),
            })
            .collect::<Vec<_>>();
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = grants.iter().position(|g| !seen.insert(g.system)) {
            return Err(AuthError::field(&format!("/systems/{dup}"), "system listed twice"));
        }
        let account = NewAccount {
            org_id,
            email: request.email,
            username: request.username,
            password: request.password,
            roles,
            grants: grants.clone(),
        };
        let user = self.create_account(account, caller.actor(), ctx).await?;
        Ok(UserView::new(&user, grants))
    }

    fn check_roles_assignable(&self, caller: &Principal, requested: &[String], pointer: &str) -> Result<(), AuthError> {
        let mut errors = Vec::new();
        for (i, role) in requested.iter().enumerate() {
            if !roles::ALL.contains(&role.as_str()) {
                errors.push(FieldError::new(format!("{pointer}/{i}"), format!("unknown role {role:?}")));
            } else if role == roles::SUPERADMIN && !caller.is_superadmin() {
                return Err(AuthError::Forbidden("only a superadmin may grant the superadmin role".into()));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(AuthError::Validation(errors)) }
    }

    /// Validates and stores a new account with its grants, announcing `user.created` and
    /// `access.granted` in the same transaction.
    pub async fn create_account(
        &self,
        account: NewAccount,
        actor: Option<UserId>,
        ctx: &ClientContext,
    ) -> Result<User, AuthError> {
        let email = account.email.trim().to_lowercase();
        let username = account.username.trim().to_owned();
        let mut errors = Vec::new();
        if !is_plausible_email(&email) {
            errors.push(FieldError::new("/email", "must be an email address like name@example.com"));
        }
        if !(3..=100).contains(&username.chars().count())
            || !username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            errors.push(FieldError::new("/username", "must be 3–100 letters, digits, '.', '_' or '-'"));
        }
        if let Err(AuthError::Validation(mut policy)) =
            self.check_password_policy(&account.password, &username, &email, "/password")
        {
            errors.append(&mut policy);
        }
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let now = Utc::now();
        let user = User {
            id: UserId::new(),
            org_id: account.org_id,
            email,
            username,
            password_hash: self.hash(&account.password).await?,
            is_active: true,
            roles: account.roles,
            mfa_secret: None,
            mfa_enabled: false,
            recovery_code_hashes: vec![],
            tokens_valid_after: None,
            created_at: now,
            updated_at: now,
        };
        let mut effects = Effects::none()
            .event(self.event(
                event_types::USER_CREATED,
                Some(user.org_id),
                json!({"user_id": user.id, "email": user.email, "username": user.username, "roles": user.roles}),
            ))
            .audit(self.audit(
                Some(user.org_id),
                actor,
                "user.created",
                Some(user.id.to_string()),
                ctx,
                json!({"roles": user.roles}),
            ));
        for grant in &account.grants {
            effects = effects
                .event(self.event(
                    event_types::ACCESS_GRANTED,
                    Some(user.org_id),
                    json!({"user_id": user.id, "system": grant.system, "level": grant.level, "granted_by": actor}),
                ))
                .audit(self.audit(
                    Some(user.org_id),
                    actor,
                    "access.granted",
                    Some(user.id.to_string()),
                    ctx,
                    json!({"system": grant.system, "level": grant.level}),
                ));
        }
        match self.store.users.create_user(OrgScope(user.org_id), &user, &account.grants, &effects).await {
            Ok(()) => {}
            Err(auterity_store::StoreError::Conflict(_)) => {
                return Err(AuthError::Conflict("a user with this email or username already exists".into()));
            }
            Err(other) => return Err(other.into()),
        }
        self.committed();
        Ok(user)
    }

    pub async fn list_users(&self, caller: &Principal, page: PageRequest) -> Result<Page<UserView>, AuthError> {
        let scope = OrgScope(caller.org_id);
        let users = self.store.users.list_users(scope, page).await?;
        let mut views = Vec::with_capacity(users.len());
        for user in &users {
            views.push(UserView::new(user, self.store.users.list_access(scope, user.id).await?));
        }
        Ok(Page::new(views, page.limit, |v| v.id))
    }

    pub async fn get_user(&self, caller: &Principal, id: UserId) -> Result<UserView, AuthError> {
        let scope = OrgScope(caller.org_id);
        let user = self.store.users.get_user(scope, id).await?.ok_or(AuthError::NotFound("user"))?;
        Ok(UserView::new(&user, self.store.users.list_access(scope, id).await?))
    }

    pub async fn update_user(
        &self,
        caller: &Principal,
        id: UserId,
        request: UpdateUserRequest,
        ctx: &ClientContext,
    ) -> Result<UserView, AuthError> {
        let scope = OrgScope(caller.org_id);
        let mut user = self.store.users.get_user(scope, id).await?.ok_or(AuthError::NotFound("user"))?;
        let now = Utc::now();
        let mut changes = serde_json::Map::new();
        let mut cut_off = false;
        if let Some(active) = request.is_active {
            if !active && id == caller.user_id {
                return Err(AuthError::field("/is_active", "you cannot disable your own account"));
            }
            if user.is_active && !active {
                user.tokens_valid_after = Some(now);
                cut_off = true;
            }
            user.is_active = active;
            changes.insert("is_active".into(), active.into());
        }
        if let Some(new_roles) = request.roles {
            self.check_roles_assignable(caller, &new_roles, "/roles")?;
            if user.roles.iter().any(|r| r == roles::SUPERADMIN) && !caller.is_superadmin() {
                return Err(AuthError::Forbidden("only a superadmin may change a superadmin's roles".into()));
            }
            changes.insert("roles".into(), json!(new_roles));
            user.roles = new_roles;
            user.tokens_valid_after = Some(now);
            cut_off = true;
        }
        if let Some(email) = request.email {
            let email = email.trim().to_lowercase();
            if !is_plausible_email(&email) {
                return Err(AuthError::field("/email", "must be an email address like name@example.com"));
            }
            changes.insert("email".into(), email.clone().into());
            user.email = email;
        }
        if let Some(username) = request.username {
            changes.insert("username".into(), username.clone().into());
            user.username = username.trim().to_owned();
        }
        user.updated_at = now;
        let action = if request.is_active == Some(false) { "user.disabled" } else { "user.updated" };
        let effects = Effects::none().audit(self.audit(
            Some(user.org_id),
            caller.actor(),
            action,
            Some(user.id.to_string()),
            ctx,
            serde_json::Value::Object(changes),
        ));
        match self.store.users.update_user(scope, &user, &effects).await {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::NotFound("user")),
            Err(auterity_store::StoreError::Conflict(_)) => {
                return Err(AuthError::Conflict("a user with this email or username already exists".into()));
            }
            Err(other) => return Err(other.into()),
        }
        if cut_off {
            self.cut_off_user_tokens(user.id, now).await?;
        }
        self.get_user(caller, id).await
    }

    pub async fn grant_access(
        &self,
        caller: &Principal,
        user: UserId,
        system: System,
        request: GrantRequest,
        ctx: &ClientContext,
    ) -> Result<UserView, AuthError> {
        let scope = OrgScope(caller.org_id);
        let grant = AccessGrant {
            system,
            level: request.level,
            resources: request.resources,
            granted_at: Some(Utc::now()),
            granted_by: caller.actor(),
        };
        let effects = Effects::none()
            .event(self.event(
                event_types::ACCESS_GRANTED,
                Some(caller.org_id),
                json!({"user_id": user, "system": system, "level": grant.level, "granted_by": caller.user_id}),
            ))
            .audit(self.audit(
                Some(caller.org_id),
                caller.actor(),
                "access.granted",
                Some(user.to_string()),
                ctx,
                json!({"system": system, "level": grant.level}),
            ));
        if !self.store.users.set_access(scope, user, &grant, &effects).await? {
            return Err(AuthError::NotFound("user"));
        }
        self.committed();
        self.get_user(caller, user).await
    }

    pub async fn revoke_access(
        &self,
        caller: &Principal,
        user: UserId,
        system: System,
        ctx: &ClientContext,
    ) -> Result<UserView, AuthError> {
        let scope = OrgScope(caller.org_id);
        let effects = Effects::none()
            .event(self.event(
                event_types::ACCESS_REVOKED,
                Some(caller.org_id),
                json!({"user_id": user, "system": system, "revoked_by": caller.user_id}),
            ))
            .audit(self.audit(
                Some(caller.org_id),
                caller.actor(),
                "access.revoked",
                Some(user.to_string()),
                ctx,
                json!({"system": system}),
            ));
        if !self.store.users.revoke_access(scope, user, system, &effects).await? {
            return Err(AuthError::NotFound("access grant"));
        }
        self.committed();
        // Tokens carry grants: end the user's sessions so the revocation bites now.
        self.cut_off_user_tokens(user, Utc::now()).await?;
        self.get_user(caller, user).await
    }
}

fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::is_plausible_email;

    #[test]
    fn email_shape() {
        assert!(is_plausible_email("a@b.co"));
        assert!(!is_plausible_email("a@b"));
        assert!(!is_plausible_email("@b.co"));
        assert!(!is_plausible_email("a b@c.co"));
        assert!(!is_plausible_email("a@b@c.co"));
    }
}
