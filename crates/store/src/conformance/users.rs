//! Conformance tests of `UserRepo`: users, login lookup, updates and access grants.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_users {
    () => {
        mod users {
            use $crate::conformance::prelude::*;

            /// A fresh store with one organization.
            async fn store_with_org() -> (Store, OrgScope) {
                let store = super::__conformance_store().await;
                let org = org("acme");
                store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                (store, OrgScope(org.id))
            }

            #[::tokio::test]
            async fn create_then_get_round_trips_every_field() {
                let (store, scope) = store_with_org().await;
                let mut ann = user(scope.org_id(), "Ann");
                ann.roles = vec!["admin".to_owned(), "member".to_owned()];
                ann.mfa_secret = Some("c2VjcmV0".to_owned());
                ann.mfa_enabled = true;
                ann.recovery_code_hashes = vec!["aa".to_owned(), "bb".to_owned()];
                ann.tokens_valid_after = Some(now());
                ann.is_active = false;
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                assert_eq!(store.users.get_user(scope, ann.id).await.unwrap(), Some(ann));
                assert_eq!(store.users.get_user(scope, UserId::new()).await.unwrap(), None);
                assert_eq!(store.users.count_users().await.unwrap(), 1);
            }

            #[::tokio::test]
            async fn timestamps_keep_microseconds() {
                let (store, scope) = store_with_org().await;
                let mut ann = user(scope.org_id(), "ann");
                ann.created_at += Duration::nanoseconds(789);
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                let stored = store.users.get_user(scope, ann.id).await.unwrap().unwrap();
                assert_eq!(stored.created_at, ann.created_at - Duration::nanoseconds(789));
            }

            #[::tokio::test]
            async fn email_and_username_are_unique_ignoring_case() {
                let (store, scope) = store_with_org().await;
                let other = org("other");
                store.orgs.create_org(&other, &Effects::none()).await.unwrap();
                store.users.create_user(scope, &user(scope.org_id(), "ann"), &[], &Effects::none()).await.unwrap();

                let mut same_email = user(scope.org_id(), "someone");
                same_email.email = "ANN@Example.COM".to_owned();
                let err = store.users.create_user(scope, &same_email, &[], &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

                // Unique platform-wide, not per organization.
                let mut same_username = user(other.id, "ANN");
                same_username.email = "different@example.com".to_owned();
                let effects = Effects::none().event(event(Some(other.id), "user.created"));
                let err = store.users.create_user(OrgScope(other.id), &same_username, &[], &effects).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

                assert_eq!(store.users.count_users().await.unwrap(), 1);
                assert!(store.outbox.fetch_unpublished(0, 100).await.unwrap().is_empty(), "no effects on failure");
            }

            #[::tokio::test]
            async fn user_outside_the_scope_or_in_a_missing_org_is_refused() {
                let (store, scope) = store_with_org().await;
                let ghost = OrgId::new();
                let err = store.users.create_user(scope, &user(ghost, "x"), &[], &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let err = store
                    .users
                    .create_user(OrgScope(ghost), &user(ghost, "y"), &[], &Effects::none())
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                assert_eq!(store.users.count_users().await.unwrap(), 0);
            }

            #[::tokio::test]
            async fn login_finds_by_email_or_username_ignoring_case() {
                let (store, scope) = store_with_org().await;
                let ann = user(scope.org_id(), "Ann.Smith");
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                for login in ["Ann.Smith", "ann.smith", "ANN.SMITH@EXAMPLE.COM", "ann.smith@example.com"] {
                    let found = store.users.find_user_by_login(login).await.unwrap();
                    assert_eq!(found.as_ref().map(|u| u.id), Some(ann.id), "{login}");
                }
                assert_eq!(store.users.find_user_by_login("ann").await.unwrap(), None);
                assert_eq!(store.users.find_user_by_login("").await.unwrap(), None);
            }

            #[::tokio::test]
            async fn update_writes_every_mutable_column_and_its_effects() {
                let (store, scope) = store_with_org().await;
                let ann = user(scope.org_id(), "ann");
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                let mut changed = ann.clone();
                changed.email = "Ann.New@Example.com".to_owned();
                changed.username = "ann2".to_owned();
                changed.password_hash = "new-hash".to_owned();
                changed.is_active = false;
                changed.roles = vec!["admin".to_owned()];
                changed.mfa_secret = Some("enc".to_owned());
                changed.mfa_enabled = true;
                changed.recovery_code_hashes = vec!["r1".to_owned()];
                changed.tokens_valid_after = Some(now());
                changed.updated_at = now() + Duration::seconds(1);
                let entry = audit(Some(scope.org_id()), "user.updated");
                let effects = Effects::none().audit(entry.clone()).event(event(Some(scope.org_id()), "user.updated"));
                assert!(store.users.update_user(scope, &changed, &effects).await.unwrap());
                assert_eq!(store.users.get_user(scope, ann.id).await.unwrap(), Some(changed.clone()));
                assert_eq!(store.users.find_user_by_login("ann.new@example.com").await.unwrap(), Some(changed));
                assert_eq!(store.users.find_user_by_login("ann").await.unwrap(), None);
                let audit = store.audit.list_audit(scope, None, PageRequest::default()).await.unwrap();
                assert_eq!(audit, vec![entry]);
                assert_eq!(store.outbox.fetch_unpublished(0, 10).await.unwrap().len(), 1);

                let mut ghost = user(scope.org_id(), "ghost");
                ghost.id = UserId::new();
                let effects = Effects::none().event(event(Some(scope.org_id()), "user.updated"));
                assert!(!store.users.update_user(scope, &ghost, &effects).await.unwrap());
                assert_eq!(store.outbox.fetch_unpublished(0, 10).await.unwrap().len(), 1, "no effects when false");
            }

            #[::tokio::test]
            async fn update_to_a_taken_email_is_a_conflict() {
                let (store, scope) = store_with_org().await;
                let (ann, bob) = (user(scope.org_id(), "ann"), user(scope.org_id(), "bob"));
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                store.users.create_user(scope, &bob, &[], &Effects::none()).await.unwrap();
                let mut changed = bob.clone();
                changed.email = "ANN@example.com".to_owned();
                let err = store.users.update_user(scope, &changed, &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                assert_eq!(store.users.get_user(scope, bob.id).await.unwrap(), Some(bob));
            }

            #[::tokio::test]
            async fn list_users_pages_by_id() {
                let (store, scope) = store_with_org().await;
                let mut ids = Vec::new();
                for n in 0..7 {
                    let u = user(scope.org_id(), &format!("user{n}"));
                    store.users.create_user(scope, &u, &[], &Effects::none()).await.unwrap();
                    ids.push(u.id);
                }
                ids.sort();
                let mut seen = Vec::new();
                let mut page = PageRequest::first(3);
                loop {
                    let users = store.users.list_users(scope, page).await.unwrap();
                    if users.is_empty() {
                        break;
                    }
                    assert!(users.len() <= 3);
                    seen.extend(users.iter().map(|u| u.id));
                    page.after = users.last().map(|u| u.id.0);
                }
                assert_eq!(seen, ids);
            }

            #[::tokio::test]
            async fn create_user_writes_grants_and_effects_in_one_go() {
                let (store, scope) = store_with_org().await;
                let ann = user(scope.org_id(), "ann");
                let grants = [grant(System::Relaycore, Level::Write), grant(System::Autmatrix, Level::Admin)];
                let event = event(Some(scope.org_id()), "user.created");
                let entry = audit(Some(scope.org_id()), "user.created");
                let effects = Effects::none().event(event.clone()).audit(entry.clone());
                store.users.create_user(scope, &ann, &grants, &effects).await.unwrap();
                let listed = store.users.list_access(scope, ann.id).await.unwrap();
                assert_eq!(listed, vec![grants[1].clone(), grants[0].clone()], "ordered by system name");
                let outbox = store.outbox.events_by_correlation(event.correlation_id, 10).await.unwrap();
                assert_eq!(outbox.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), vec![event]);
                assert_eq!(store.audit.list_audit(scope, None, PageRequest::default()).await.unwrap(), vec![entry]);
            }

            #[::tokio::test]
            async fn set_access_upserts_and_revoke_removes() {
                let (store, scope) = store_with_org().await;
                let (admin, ann) = (user(scope.org_id(), "admin"), user(scope.org_id(), "ann"));
                store.users.create_user(scope, &admin, &[], &Effects::none()).await.unwrap();
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();

                let mut read = grant(System::Neuroweaver, Level::Read);
                read.resources = vec!["model:1".to_owned()];
                read.granted_by = Some(admin.id);
                let fx = |kind: &str| Effects::none().event(event(Some(scope.org_id()), kind));
                assert!(store.users.set_access(scope, ann.id, &read, &fx("access.granted")).await.unwrap());
                assert_eq!(store.users.list_access(scope, ann.id).await.unwrap(), vec![read.clone()]);

                let mut admin_level = grant(System::Neuroweaver, Level::Admin);
                admin_level.granted_by = Some(admin.id);
                assert!(store.users.set_access(scope, ann.id, &admin_level, &fx("access.granted")).await.unwrap());
                assert_eq!(store.users.list_access(scope, ann.id).await.unwrap(), vec![admin_level]);

                assert!(!store.users.set_access(scope, UserId::new(), &read, &fx("access.granted")).await.unwrap());
                assert!(
                    store.users.revoke_access(scope, ann.id, System::Neuroweaver, &fx("access.revoked")).await.unwrap()
                );
                assert!(
                    !store
                        .users
                        .revoke_access(scope, ann.id, System::Neuroweaver, &fx("access.revoked"))
                        .await
                        .unwrap()
                );
                assert!(store.users.list_access(scope, ann.id).await.unwrap().is_empty());

                let types: Vec<String> = store
                    .outbox
                    .fetch_unpublished(0, 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.event.event_type)
                    .collect();
                assert_eq!(types, ["access.granted", "access.granted", "access.revoked"], "effects only on success");
            }
        }
    };
}
