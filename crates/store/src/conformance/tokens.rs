//! Conformance tests of `TokenRepo`: refresh-token rotation and revocation, revoked jtis, purge.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tokens {
    () => {
        mod tokens {
            use $crate::conformance::prelude::*;

            /// A fresh store with one organization and one user.
            async fn store_with_user() -> (Store, User) {
                let store = super::__conformance_store().await;
                let org = org("acme");
                store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                let ann = user(org.id, "ann");
                store.users.create_user(OrgScope(org.id), &ann, &[], &Effects::none()).await.unwrap();
                (store, ann)
            }

            #[::tokio::test]
            async fn refresh_token_is_found_by_hash() {
                let (store, ann) = store_with_user().await;
                let token = refresh_token(&ann, Uuid::now_v7(), "hash-1", Duration::days(30));
                store.tokens.insert_refresh_token(&token).await.unwrap();
                assert_eq!(store.tokens.find_refresh_token("hash-1").await.unwrap(), Some(token.clone()));
                assert_eq!(store.tokens.find_refresh_token("hash-2").await.unwrap(), None);
                let mut again = refresh_token(&ann, Uuid::now_v7(), "hash-1", Duration::days(30));
                again.id = Uuid::now_v7();
                let err = store.tokens.insert_refresh_token(&again).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
            }

            #[::tokio::test]
            async fn rotation_spends_a_token_exactly_once() {
                let (store, ann) = store_with_user().await;
                let family = Uuid::now_v7();
                let old = refresh_token(&ann, family, "old", Duration::days(30));
                store.tokens.insert_refresh_token(&old).await.unwrap();
                let used_at = now();
                let first = refresh_token(&ann, family, "new-1", Duration::days(30));
                assert!(store.tokens.rotate_refresh_token(old.id, used_at, &first).await.unwrap());
                let spent = store.tokens.find_refresh_token("old").await.unwrap().unwrap();
                assert_eq!(spent.used_at, Some(used_at));
                assert_eq!(store.tokens.find_refresh_token("new-1").await.unwrap(), Some(first));

                let second = refresh_token(&ann, family, "new-2", Duration::days(30));
                assert!(!store.tokens.rotate_refresh_token(old.id, now(), &second).await.unwrap());
                assert_eq!(store.tokens.find_refresh_token("new-2").await.unwrap(), None, "nothing inserted");
                let spent_again = store.tokens.find_refresh_token("old").await.unwrap().unwrap();
                assert_eq!(spent_again.used_at, Some(used_at), "first use kept");
            }

            #[::tokio::test]
            async fn concurrent_rotations_have_one_winner() {
                let (store, ann) = store_with_user().await;
                let family = Uuid::now_v7();
                let old = refresh_token(&ann, family, "old", Duration::days(30));
                store.tokens.insert_refresh_token(&old).await.unwrap();
                let candidates: Vec<RefreshToken> =
                    (0..4).map(|n| refresh_token(&ann, family, &format!("racer-{n}"), Duration::days(30))).collect();
                let mut tasks = Vec::new();
                for candidate in candidates {
                    let tokens = store.tokens.clone();
                    tasks.push(::tokio::spawn(async move {
                        tokens.rotate_refresh_token(old.id, now(), &candidate).await.unwrap()
                    }));
                }
                let mut winners = 0;
                for task in tasks {
                    if task.await.unwrap() {
                        winners += 1;
                    }
                }
                assert_eq!(winners, 1);
                let mut stored = 0;
                for n in 0..4 {
                    if store.tokens.find_refresh_token(&format!("racer-{n}")).await.unwrap().is_some() {
                        stored += 1;
                    }
                }
                assert_eq!(stored, 1);
            }

            #[::tokio::test]
            async fn revoked_token_cannot_rotate_and_family_revocation_counts() {
                let (store, ann) = store_with_user().await;
                let family = Uuid::now_v7();
                let a = refresh_token(&ann, family, "a", Duration::days(30));
                let b = refresh_token(&ann, family, "b", Duration::days(30));
                let other = refresh_token(&ann, Uuid::now_v7(), "other", Duration::days(30));
                for token in [&a, &b, &other] {
                    store.tokens.insert_refresh_token(token).await.unwrap();
                }
                let at = now();
                assert_eq!(store.tokens.revoke_family(family, at).await.unwrap(), 2);
                assert_eq!(store.tokens.revoke_family(family, now()).await.unwrap(), 0, "already revoked");
                assert_eq!(store.tokens.find_refresh_token("a").await.unwrap().unwrap().revoked_at, Some(at));
                assert_eq!(store.tokens.find_refresh_token("other").await.unwrap().unwrap().revoked_at, None);
                let next = refresh_token(&ann, family, "c", Duration::days(30));
                assert!(!store.tokens.rotate_refresh_token(a.id, now(), &next).await.unwrap());
                assert_eq!(store.tokens.find_refresh_token("c").await.unwrap(), None);
            }

            #[::tokio::test]
            async fn user_revocation_covers_every_family_of_that_user_only() {
                let (store, ann) = store_with_user().await;
                let bob = user(ann.org_id, "bob");
                store.users.create_user(OrgScope(ann.org_id), &bob, &[], &Effects::none()).await.unwrap();
                store
                    .tokens
                    .insert_refresh_token(&refresh_token(&ann, Uuid::now_v7(), "a1", Duration::days(1)))
                    .await
                    .unwrap();
                store
                    .tokens
                    .insert_refresh_token(&refresh_token(&ann, Uuid::now_v7(), "a2", Duration::days(1)))
                    .await
                    .unwrap();
                store
                    .tokens
                    .insert_refresh_token(&refresh_token(&bob, Uuid::now_v7(), "b1", Duration::days(1)))
                    .await
                    .unwrap();
                assert_eq!(store.tokens.revoke_user_refresh_tokens(ann.id, now()).await.unwrap(), 2);
                assert_eq!(store.tokens.revoke_user_refresh_tokens(ann.id, now()).await.unwrap(), 0);
                assert!(store.tokens.find_refresh_token("a2").await.unwrap().unwrap().revoked_at.is_some());
                assert!(store.tokens.find_refresh_token("b1").await.unwrap().unwrap().revoked_at.is_none());
            }

            #[::tokio::test]
            async fn revoked_jtis_are_recorded_idempotently_until_expiry() {
                let (store, ann) = store_with_user().await;
                let now = now();
                let (live, dead) = (Uuid::now_v7(), Uuid::now_v7());
                store.tokens.revoke_jti(live, ann.id, now + Duration::minutes(15)).await.unwrap();
                store.tokens.revoke_jti(live, ann.id, now + Duration::minutes(15)).await.unwrap();
                store.tokens.revoke_jti(dead, ann.id, now - Duration::minutes(1)).await.unwrap();
                assert!(store.tokens.is_jti_revoked(live).await.unwrap());
                assert!(store.tokens.is_jti_revoked(dead).await.unwrap());
                assert!(!store.tokens.is_jti_revoked(Uuid::now_v7()).await.unwrap());
                let listed = store.tokens.list_revoked_jtis(now).await.unwrap();
                assert_eq!(listed, vec![(live, now + Duration::minutes(15))]);
            }

            #[::tokio::test]
            async fn purge_deletes_only_what_expired() {
                let (store, ann) = store_with_user().await;
                let now = now();
                let expired = refresh_token(&ann, Uuid::now_v7(), "expired", Duration::seconds(-1));
                let fresh = refresh_token(&ann, Uuid::now_v7(), "fresh", Duration::days(1));
                store.tokens.insert_refresh_token(&expired).await.unwrap();
                store.tokens.insert_refresh_token(&fresh).await.unwrap();
                let (old_jti, new_jti) = (Uuid::now_v7(), Uuid::now_v7());
                store.tokens.revoke_jti(old_jti, ann.id, now - Duration::seconds(5)).await.unwrap();
                store.tokens.revoke_jti(new_jti, ann.id, now + Duration::seconds(500)).await.unwrap();
                assert_eq!(store.tokens.purge_expired(now + Duration::milliseconds(1)).await.unwrap(), 2);
                assert_eq!(store.tokens.purge_expired(now + Duration::milliseconds(1)).await.unwrap(), 0);
                assert_eq!(store.tokens.find_refresh_token("expired").await.unwrap(), None);
                assert!(store.tokens.find_refresh_token("fresh").await.unwrap().is_some());
                assert!(!store.tokens.is_jti_revoked(old_jti).await.unwrap());
                assert!(store.tokens.is_jti_revoked(new_jti).await.unwrap());
            }
        }
    };
}
