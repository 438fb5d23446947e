//! Conformance tests of `OutboundRepo`: workflow secrets (ciphertext only, scoped per
//! organization, unique names), workflow variables (JSON values, upserted, scoped) and the
//! organization's egress setting.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_outbound {
    () => {
        mod outbound {
            use $crate::conformance::prelude::*;

            fn secret(org: OrgId, name: &str, sealed: &str) -> SecretRecord {
                SecretRecord {
                    id: Uuid::now_v7(),
                    org_id: org,
                    name: name.to_owned(),
                    value_encrypted: sealed.to_owned(),
                    created_by: None,
                    created_at: now(),
                    updated_at: now(),
                }
            }

            async fn two_orgs() -> (Store, OrgScope, OrgScope) {
                let store = super::__conformance_store().await;
                let (a, b) = (org("alpha"), org("bravo"));
                store.orgs.create_org(&a, &Effects::none()).await.unwrap();
                store.orgs.create_org(&b, &Effects::none()).await.unwrap();
                (store, OrgScope(a.id), OrgScope(b.id))
            }

            #[::tokio::test]
            async fn secrets_are_scoped_unique_updated_and_deleted() {
                let (store, a, b) = two_orgs().await;
                let repo = &store.outbound;
                let token = secret(a.org_id(), "api_token", "sealed-1");
                repo.create_secret(a, &token, &Effects::none()).await.unwrap();
                repo.create_secret(a, &secret(a.org_id(), "other", "sealed-2"), &Effects::none()).await.unwrap();
                assert_eq!(repo.get_secret(a, "api_token").await.unwrap(), Some(token.clone()));
                let err =
                    repo.create_secret(a, &secret(a.org_id(), "api_token", "x"), &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                let err =
                    repo.create_secret(b, &secret(a.org_id(), "foreign", "x"), &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                // The same name in another organization is another secret.
                repo.create_secret(b, &secret(b.org_id(), "api_token", "sealed-b"), &Effects::none()).await.unwrap();

                let page = PageRequest { limit: 1, after: None };
                let first = repo.list_secrets(a, page).await.unwrap();
                assert_eq!(first.len(), 1);
                let rest = repo.list_secrets(a, PageRequest { limit: 10, after: Some(first[0].id) }).await.unwrap();
                assert_eq!(first.len() + rest.len(), 2);
                let names = ["api_token".to_owned(), "missing".to_owned()];
                let found = repo.secrets_by_name(a, &names).await.unwrap();
                assert_eq!(found.iter().map(|s| s.value_encrypted.as_str()).collect::<Vec<_>>(), ["sealed-1"]);
                assert!(repo.secrets_by_name(a, &[]).await.unwrap().is_empty());

                let later = now() + Duration::seconds(5);
                assert!(repo.update_secret(a, "api_token", "sealed-3", later, &Effects::none()).await.unwrap());
                let updated = repo.get_secret(a, "api_token").await.unwrap().unwrap();
                assert_eq!((updated.value_encrypted.as_str(), updated.updated_at), ("sealed-3", later));
                assert!(!repo.update_secret(a, "nope", "x", later, &Effects::none()).await.unwrap());
                assert_eq!(repo.get_secret(b, "api_token").await.unwrap().unwrap().value_encrypted, "sealed-b");

                assert!(!repo.delete_secret(b, "other", &Effects::none()).await.unwrap());
                assert!(repo.delete_secret(a, "other", &Effects::none()).await.unwrap());
                assert!(!repo.delete_secret(a, "other", &Effects::none()).await.unwrap());
                assert_eq!(repo.list_secrets(a, PageRequest { limit: 10, after: None }).await.unwrap().len(), 1);
                assert_eq!(repo.list_secrets(b, PageRequest { limit: 10, after: None }).await.unwrap().len(), 1);
            }

            fn variable(org: OrgId, name: &str, value: Value) -> VariableRecord {
                VariableRecord {
                    id: Uuid::now_v7(),
                    org_id: org,
                    name: name.to_owned(),
                    value,
                    created_by: None,
                    created_at: now(),
                    updated_at: now(),
                }
            }

            #[::tokio::test]
            async fn variables_are_scoped_upserted_listed_and_deleted() {
                let (store, a, b) = two_orgs().await;
                let repo = &store.outbound;
                let url = variable(a.org_id(), "crm_url", json!("https://crm.example/api"));
                assert_eq!(repo.put_variable(a, &url, &Effects::none()).await.unwrap(), url);
                let hours = variable(a.org_id(), "quiet_hours", json!({"start": 21, "end": [8, 0.5]}));
                repo.put_variable(a, &hours, &Effects::none()).await.unwrap();
                assert_eq!(repo.get_variable(a, "quiet_hours").await.unwrap(), Some(hours.clone()));
                assert_eq!(repo.get_variable(b, "crm_url").await.unwrap(), None);
                let err = repo
                    .put_variable(b, &variable(a.org_id(), "foreign", json!(1)), &Effects::none())
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

                // Putting an existing name replaces the value and keeps the identity.
                let mut replaced = variable(a.org_id(), "crm_url", json!(null));
                replaced.updated_at = now() + Duration::seconds(5);
                let stored = repo.put_variable(a, &replaced, &Effects::none()).await.unwrap();
                assert_eq!((stored.id, stored.created_at), (url.id, url.created_at));
                assert_eq!((stored.value.clone(), stored.updated_at), (json!(null), replaced.updated_at));
                repo.put_variable(b, &variable(b.org_id(), "crm_url", json!("b")), &Effects::none())
                    .await
                    .unwrap();

                let all = repo.all_variables(a).await.unwrap();
                assert_eq!(all.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["crm_url", "quiet_hours"]);
                assert_eq!(repo.count_variables(a).await.unwrap(), 2);
                assert_eq!(repo.count_variables(b).await.unwrap(), 1);
                let first = repo.list_variables(a, PageRequest { limit: 1, after: None }).await.unwrap();
                let rest = repo.list_variables(a, PageRequest { limit: 10, after: Some(first[0].id) }).await.unwrap();
                assert_eq!((first.len(), rest.len()), (1, 1));

                assert!(!repo.delete_variable(b, "quiet_hours", &Effects::none()).await.unwrap());
                assert!(repo.delete_variable(a, "quiet_hours", &Effects::none()).await.unwrap());
                assert!(!repo.delete_variable(a, "quiet_hours", &Effects::none()).await.unwrap());
                assert_eq!(repo.all_variables(b).await.unwrap()[0].value, json!("b"));
            }

            #[::tokio::test]
            async fn egress_setting_defaults_sets_and_clears() {
                let (store, a, b) = two_orgs().await;
                let repo = &store.outbound;
                assert_eq!(repo.get_egress_setting(a).await.unwrap(), OrgEgressSetting::default());
                let at = now();
                repo.set_egress_setting(a, Some(true), at, &Effects::none()).await.unwrap();
                assert_eq!(
                    repo.get_egress_setting(a).await.unwrap(),
                    OrgEgressSetting { deny_private: Some(true), updated_at: Some(at) }
                );
                assert_eq!(repo.get_egress_setting(b).await.unwrap().deny_private, None);
                repo.set_egress_setting(a, None, at, &Effects::none()).await.unwrap();
                assert_eq!(repo.get_egress_setting(a).await.unwrap().deny_private, None);
                repo.set_egress_setting(a, Some(false), at, &Effects::none()).await.unwrap();
                assert_eq!(repo.get_egress_setting(a).await.unwrap().deny_private, Some(false));
            }
        }
    };
}
