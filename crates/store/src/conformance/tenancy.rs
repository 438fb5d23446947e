//! The tenancy conformance test: every scoped read and write of every repository, tried across
//! two organizations, must neither leak nor change anything of the other organization.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tenancy {
    () => {
        mod tenancy {
            use $crate::conformance::prelude::*;

            /// One organization's data, created through its own scope.
            struct Tenant {
                scope: OrgScope,
                user: User,
                team: Team,
                key: ApiKey,
            }

            async fn tenant(store: &Store, slug: &str) -> Tenant {
                let org = org(slug);
                store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                let scope = OrgScope(org.id);
                let user = user(org.id, &format!("{slug}-user"));
                let grants = [grant(System::Autmatrix, Level::Write), grant(System::Relaycore, Level::Read)];
                store.users.create_user(scope, &user, &grants, &Effects::none()).await.unwrap();
                let team = team(org.id, "Sales");
                store.orgs.create_team(scope, &team, &Effects::none()).await.unwrap();
                assert!(store.orgs.add_team_member(scope, team.id, user.id).await.unwrap());
                let key = api_key(&user, &format!("ak_{slug}"));
                store.api_keys.create_api_key(scope, &key, &Effects::none()).await.unwrap();
                store.audit.append_audit(&audit(Some(org.id), "login")).await.unwrap();
                Tenant { scope, user, team, key }
            }

            /// Everything a tenant can see through its own scope, plus the whole outbox.
            #[derive(Debug, PartialEq)]
            struct Snapshot {
                users: Vec<User>,
                grants: Vec<AccessGrant>,
                teams: Vec<Team>,
                members: Vec<UserId>,
                user_teams: Vec<TeamId>,
                keys: Vec<ApiKey>,
                audit: Vec<AuditEntry>,
                outbox: Vec<OutboxRecord>,
            }

            async fn snapshot(store: &Store, t: &Tenant) -> Snapshot {
                let all = PageRequest::first(PageRequest::MAX_LIMIT);
                Snapshot {
                    users: store.users.list_users(t.scope, all).await.unwrap(),
                    grants: store.users.list_access(t.scope, t.user.id).await.unwrap(),
                    teams: store.orgs.list_teams(t.scope, all).await.unwrap(),
                    members: store.orgs.list_team_members(t.scope, t.team.id).await.unwrap(),
                    user_teams: store.orgs.list_user_teams(t.scope, t.user.id).await.unwrap(),
                    keys: store.api_keys.list_api_keys(t.scope, None, all).await.unwrap(),
                    audit: store.audit.list_audit(t.scope, None, all).await.unwrap(),
                    outbox: store.outbox.fetch_unpublished(0, 1000).await.unwrap(),
                }
            }

            /// Effects that must never be written, because the write they ride on is refused.
            fn forbidden_effects(t: &Tenant) -> Effects {
                Effects::none()
                    .event(event(Some(t.scope.org_id()), "must.not.happen"))
                    .audit(audit(Some(t.scope.org_id()), "must.not.happen"))
            }

            #[::tokio::test]
            async fn nothing_leaks_or_changes_across_organizations() {
                let store = super::__conformance_store().await;
                let a = tenant(&store, "alpha").await;
                let b = tenant(&store, "bravo").await;
                let before = snapshot(&store, &a).await;
                assert_eq!(before.users, vec![a.user.clone()]);
                assert_eq!(before.grants.len(), 2);
                assert_eq!(before.members, vec![a.user.id]);
                assert_eq!(before.keys, vec![a.key.clone()]);
                assert_eq!(before.audit.len(), 1);
                let fx = forbidden_effects(&b);

                // Reads through B's scope see nothing of A.
                assert_eq!(store.users.get_user(b.scope, a.user.id).await.unwrap(), None);
                assert_eq!(
                    store.users.list_users(b.scope, PageRequest::default()).await.unwrap(),
                    vec![b.user.clone()]
                );
                assert!(store.users.list_access(b.scope, a.user.id).await.unwrap().is_empty());
                assert_eq!(store.orgs.list_teams(b.scope, PageRequest::default()).await.unwrap(), vec![b.team.clone()]);
                assert!(store.orgs.list_team_members(b.scope, a.team.id).await.unwrap().is_empty());
                assert!(store.orgs.list_user_teams(b.scope, a.user.id).await.unwrap().is_empty());
                assert_eq!(store.api_keys.get_api_key(b.scope, a.key.id).await.unwrap(), None);
                let keys = store.api_keys.list_api_keys(b.scope, None, PageRequest::default()).await.unwrap();
                assert_eq!(keys, vec![b.key.clone()]);
                let keys =
                    store.api_keys.list_api_keys(b.scope, Some(a.user.id), PageRequest::default()).await.unwrap();
                assert!(keys.is_empty());
                let audit = store.audit.list_audit(b.scope, None, PageRequest::default()).await.unwrap();
                assert!(audit.iter().all(|e| e.org_id == Some(b.scope.org_id())));
                assert_eq!(audit.len(), 1);
                // Paging from one of A's ids does not reveal A's rows either.
                let after = PageRequest { limit: 50, after: Some(a.user.id.0) };
                assert!(
                    store.users.list_users(b.scope, after).await.unwrap().iter().all(|u| u.org_id == b.scope.org_id())
                );

                // Writes through B's scope change nothing of A, and announce nothing.
                let mut hijacked = a.user.clone();
                hijacked.password_hash = "attacker".to_owned();
                hijacked.roles = vec!["superadmin".to_owned()];
                assert!(!store.users.update_user(b.scope, &hijacked, &fx).await.unwrap());
                hijacked.org_id = b.scope.org_id();
                assert!(!store.users.update_user(b.scope, &hijacked, &fx).await.unwrap());
                let admin = grant(System::Neuroweaver, Level::Admin);
                assert!(!store.users.set_access(b.scope, a.user.id, &admin, &fx).await.unwrap());
                let write = grant(System::Autmatrix, Level::Admin);
                assert!(!store.users.set_access(b.scope, a.user.id, &write, &fx).await.unwrap());
                assert!(!store.users.revoke_access(b.scope, a.user.id, System::Autmatrix, &fx).await.unwrap());
                assert!(!store.orgs.add_team_member(b.scope, a.team.id, a.user.id).await.unwrap());
                assert!(!store.orgs.add_team_member(b.scope, a.team.id, b.user.id).await.unwrap());
                assert!(!store.orgs.add_team_member(b.scope, b.team.id, a.user.id).await.unwrap());
                assert!(!store.orgs.remove_team_member(b.scope, a.team.id, a.user.id).await.unwrap());
                assert!(!store.api_keys.delete_api_key(b.scope, a.key.id, &fx).await.unwrap());

                let err = store.orgs.create_team(b.scope, &team(a.scope.org_id(), "Intruders"), &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let planted = user(a.scope.org_id(), "planted");
                let err = store.users.create_user(b.scope, &planted, &[], &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                // A key in B's name for A's user, and a key in A's name through B's scope.
                let mut cross_key = api_key(&a.user, "ak_cross");
                cross_key.org_id = b.scope.org_id();
                let err = store.api_keys.create_api_key(b.scope, &cross_key, &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let err =
                    store.api_keys.create_api_key(b.scope, &api_key(&a.user, "ak_cross2"), &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

                let after = snapshot(&store, &a).await;
                assert_eq!(after, before, "organization A changed through B's scope");
                assert!(after.outbox.is_empty(), "refused writes announced something");
                assert_eq!(store.users.find_user_by_login("planted").await.unwrap(), None);
                assert_eq!(store.api_keys.find_api_key_by_prefix("ak_cross").await.unwrap(), None);
                assert_eq!(store.api_keys.find_api_key_by_prefix("ak_cross2").await.unwrap(), None);
                let b_audit = store.audit.list_audit(b.scope, None, PageRequest::default()).await.unwrap();
                assert!(b_audit.iter().all(|e| e.action != "must.not.happen"));
                assert_eq!(store.users.count_users().await.unwrap(), 2);
                // And B's own scope still works (the refusals were about A, not about B).
                assert!(store.users.set_access(b.scope, b.user.id, &admin, &Effects::none()).await.unwrap());
                assert!(store.api_keys.delete_api_key(b.scope, b.key.id, &Effects::none()).await.unwrap());
            }
        }
    };
}
