//! First start: the default organization and the first administrator. Idempotent: nothing is
//! created once any organization or user exists.

use auterity_store::Store;
use auterity_types::access::roles;
use auterity_types::records::{AccessGrant, Effects, Organization};
use auterity_types::{Level, OrgId, System};
use chrono::Utc;

use crate::service::{AuthService, ClientContext};
use crate::users::NewAccount;
use crate::{AuthError, secrets};

/// What first start did, for the binary to report (the generated password is printed once).
#[derive(Debug)]
pub struct Bootstrapped {
    pub org: Organization,
    pub admin_email: Option<String>,
    pub generated_password: Option<String>,
}

/// The default organization (created when there is none).
pub async fn ensure_default_org(store: &Store, name: &str) -> Result<Organization, AuthError> {
    if let Some(org) = store.orgs.get_org_by_slug("default").await? {
        return Ok(org);
    }
    if let Some(org) = store.orgs.list_orgs(auterity_types::records::PageRequest::first(1)).await?.into_iter().next() {
        return Ok(org);
    }
    let org =
        Organization { id: OrgId::new(), name: name.to_owned(), slug: "default".to_owned(), created_at: Utc::now() };
    match store.orgs.create_org(&org, &Effects::none()).await {
        Ok(()) => Ok(org),
        // Another process won the race; use its organization.
        Err(auterity_store::StoreError::Conflict(_)) => {
            store.orgs.get_org_by_slug("default").await?.ok_or(AuthError::NotFound("organization"))
        }
        Err(other) => Err(other.into()),
    }
}

/// Creates the first administrator (superadmin, admin on every system) when no user exists.
pub async fn ensure_first_admin(
    auth: &AuthService,
    org: &Organization,
    email: Option<&str>,
    password: Option<&str>,
) -> Result<Bootstrapped, AuthError> {
    if auth.store().users.count_users().await? > 0 {
        return Ok(Bootstrapped { org: org.clone(), admin_email: None, generated_password: None });
    }
    let email = email.unwrap_or("admin@auterity.local").to_owned();
    let (password, generated) = match password {
        Some(p) => (p.to_owned(), None),
        None => {
            // 24 URL-safe chars plus fixed classes: satisfies the composition rule when it is on.
            let p = format!("{}Aa1!", secrets::random_token(18));
            (p.clone(), Some(p))
        }
    };
    let now = Utc::now();
    let grants = System::ALL
        .into_iter()
        .map(|system| AccessGrant {
            system,
            level: Level::Admin,
            resources: vec![],
            granted_at: Some(now),
            granted_by: None,
        })
        .collect();
    let account = NewAccount {
        org_id: org.id,
        email: email.clone(),
        username: "admin".to_owned(),
        password,
        roles: vec![roles::SUPERADMIN.to_owned(), roles::ADMIN.to_owned()],
        grants,
    };
    auth.create_account(account, None, &ClientContext::default()).await?;
    Ok(Bootstrapped { org: org.clone(), admin_email: Some(email), generated_password: generated })
}
