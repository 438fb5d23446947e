//! `auterity user …`: user administration straight against the database, as the local operator.

use anyhow::{Context, anyhow, bail};
use auterity_auth::Principal;
use auterity_auth::dto::{CreateUserRequest, GrantRequest, SystemLevel, UpdateUserRequest};
use auterity_auth::{AuthService, ClientContext};
use auterity_config::Config;
use auterity_store::OrgScope;
use auterity_types::records::{PageRequest, User};
use auterity_types::{Level, System};

use crate::cli::UserCommand;
use crate::out;

pub async fn run(config: Config, command: &UserCommand) -> anyhow::Result<()> {
    let platform = auterity_api::Platform::start(config).await.context("failed to open the platform")?;
    let auth = platform.state.auth.clone();
    let ctx = ClientContext { user_agent: Some("auterity-cli".into()), ..Default::default() };
    let result = execute(&auth, platform.state.default_org, command, &ctx).await;
    platform.stop().await;
    result
}

async fn execute(
    auth: &AuthService,
    default_org: auterity_types::OrgId,
    command: &UserCommand,
    ctx: &ClientContext,
) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { email, username, password, user_roles, grants, org } => {
            let org_id = resolve_org(auth, org.as_deref(), default_org).await?;
            let systems = grants.iter().map(|g| parse_grant(g)).collect::<anyhow::Result<Vec<_>>>()?;
            let request = CreateUserRequest {
                email: email.clone(),
                username: username.clone(),
                password: password.clone(),
                systems,
                roles: user_roles.clone(),
                org_id: Some(org_id.0),
            };
            let user = auth.admin_create_user(&Principal::system(org_id), request, ctx).await.map_err(describe)?;
            out(&serde_json::to_string_pretty(&user)?);
        }
        UserCommand::List { org } => {
            let org_id = resolve_org(auth, org.as_deref(), default_org).await?;
            let caller = Principal::system(org_id);
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let users = auth.list_users(&caller, page).await.map_err(describe)?;
                for user in &users.items {
                    let grants: Vec<String> =
                        user.systems.iter().map(|g| format!("{}:{}", g.system, g.level)).collect();
                    out(&format!(
                        "{}  {:<24} {:<32} {:<8} roles={} access={}",
                        user.id,
                        user.username,
                        user.email,
                        if user.is_active { "active" } else { "disabled" },
                        user.roles.join(","),
                        grants.join(",")
                    ));
                }
                match users.next_cursor {
                    Some(cursor) => page.after = Some(cursor),
                    None => break,
                }
            }
        }
        UserCommand::Grant { user, access } => {
            let target = find_user(auth, user).await?;
            let level = parse_grant(access)?;
            let view = auth
                .grant_access(
                    &Principal::system(target.org_id),
                    target.id,
                    level.system,
                    GrantRequest { level: level.level, resources: vec![] },
                    ctx,
                )
                .await
                .map_err(describe)?;
            out(&serde_json::to_string_pretty(&view)?);
        }
        UserCommand::Revoke { user, system } => {
            let target = find_user(auth, user).await?;
            let system: System = system.parse().map_err(|_| anyhow!("unknown system {system:?}"))?;
            let view = auth
                .revoke_access(&Principal::system(target.org_id), target.id, system, ctx)
                .await
                .map_err(describe)?;
            out(&serde_json::to_string_pretty(&view)?);
        }
        UserCommand::Disable { user } => {
            let target = find_user(auth, user).await?;
            let request = UpdateUserRequest { is_active: Some(false), roles: None, email: None, username: None };
            let view =
                auth.update_user(&Principal::system(target.org_id), target.id, request, ctx).await.map_err(describe)?;
            out(&serde_json::to_string_pretty(&view)?);
        }
    }
    Ok(())
}

fn describe(error: auterity_auth::AuthError) -> anyhow::Error {
    match error {
        auterity_auth::AuthError::Validation(errors) => {
            anyhow!(errors.iter().map(|e| format!("{}: {}", e.pointer, e.detail)).collect::<Vec<_>>().join("; "))
        }
        other => anyhow!(other.to_string()),
    }
}

async fn resolve_org(
    auth: &AuthService,
    slug: Option<&str>,
    default_org: auterity_types::OrgId,
) -> anyhow::Result<auterity_types::OrgId> {
    match slug {
        None => Ok(default_org),
        Some(slug) => {
            Ok(auth.store().orgs.get_org_by_slug(slug).await?.ok_or_else(|| anyhow!("no organization {slug:?}"))?.id)
        }
    }
}

async fn find_user(auth: &AuthService, login: &str) -> anyhow::Result<User> {
    let user = auth.store().users.find_user_by_login(&login.to_lowercase()).await?;
    let Some(user) = user else { bail!("no user {login:?}") };
    // Re-read through the tenant scope, as every other path does.
    auth.store().users.get_user(OrgScope(user.org_id), user.id).await?.ok_or_else(|| anyhow!("no user {login:?}"))
}

fn parse_grant(text: &str) -> anyhow::Result<SystemLevel> {
    let (system, level) = text.split_once(':').ok_or_else(|| anyhow!("expected system:level, got {text:?}"))?;
    Ok(SystemLevel {
        system: system.parse().map_err(|_| anyhow!("unknown system {system:?}"))?,
        level: level.parse::<Level>().map_err(|_| anyhow!("unknown level {level:?}"))?,
    })
}
