//! Conformance tests of `ApiKeyRepo`, `AuditRepo` and `OutboxRepo`.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_api_keys_audit_outbox {
    () => {
        mod api_keys {
            use $crate::conformance::prelude::*;

            /// A fresh store with one organization and two users.
            async fn store_with_users() -> (Store, OrgScope, User, User) {
                let store = super::__conformance_store().await;
                let org = org("acme");
                store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                let scope = OrgScope(org.id);
                let (ann, bob) = (user(org.id, "ann"), user(org.id, "bob"));
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                store.users.create_user(scope, &bob, &[], &Effects::none()).await.unwrap();
                (store, scope, ann, bob)
            }

            #[::tokio::test]
            async fn keys_are_created_found_listed_and_deleted() {
                let (store, scope, ann, bob) = store_with_users().await;
                let mut k1 = api_key(&ann, "ak_one");
                k1.expires_at = Some(now() + Duration::days(90));
                let k2 = api_key(&ann, "ak_two");
                let k3 = api_key(&bob, "ak_three");
                let created = audit(Some(scope.org_id()), "api_key.created");
                store.api_keys.create_api_key(scope, &k1, &Effects::none().audit(created.clone())).await.unwrap();
                store.api_keys.create_api_key(scope, &k2, &Effects::none()).await.unwrap();
                store.api_keys.create_api_key(scope, &k3, &Effects::none()).await.unwrap();
                assert_eq!(store.audit.list_audit(scope, None, PageRequest::default()).await.unwrap(), vec![created]);

                assert_eq!(store.api_keys.find_api_key_by_prefix("ak_one").await.unwrap(), Some(k1.clone()));
                assert_eq!(store.api_keys.find_api_key_by_prefix("ak_none").await.unwrap(), None);
                assert_eq!(store.api_keys.get_api_key(scope, k3.id).await.unwrap(), Some(k3.clone()));

                let mut all = vec![k1.clone(), k2.clone(), k3.clone()];
                all.sort_by_key(|k| k.id);
                assert_eq!(store.api_keys.list_api_keys(scope, None, PageRequest::default()).await.unwrap(), all);
                let first = store.api_keys.list_api_keys(scope, None, PageRequest::first(2)).await.unwrap();
                assert_eq!(first, all[..2]);
                let after = Some(all[1].id.0);
                let rest = store.api_keys.list_api_keys(scope, None, PageRequest { limit: 2, after }).await.unwrap();
                assert_eq!(rest, all[2..]);
                let mut anns = vec![k1.clone(), k2.clone()];
                anns.sort_by_key(|k| k.id);
                let listed = store.api_keys.list_api_keys(scope, Some(ann.id), PageRequest::default()).await.unwrap();
                assert_eq!(listed, anns);

                let deleted = event(Some(scope.org_id()), "api_key.deleted");
                let fx = Effects::none().event(deleted.clone());
                assert!(store.api_keys.delete_api_key(scope, k1.id, &fx).await.unwrap());
                let fx = Effects::none().event(event(None, "x"));
                assert!(!store.api_keys.delete_api_key(scope, k1.id, &fx).await.unwrap(), "already gone");
                assert_eq!(store.api_keys.get_api_key(scope, k1.id).await.unwrap(), None);
                assert_eq!(store.api_keys.find_api_key_by_prefix("ak_one").await.unwrap(), None);
                let outbox = store.outbox.fetch_unpublished(0, 10).await.unwrap();
                assert_eq!(outbox.into_iter().map(|r| r.event).collect::<Vec<_>>(), vec![deleted]);
            }

            #[::tokio::test]
            async fn taken_prefix_is_a_conflict_and_foreign_owner_is_refused() {
                let (store, scope, ann, _bob) = store_with_users().await;
                store.api_keys.create_api_key(scope, &api_key(&ann, "ak_x"), &Effects::none()).await.unwrap();
                let again = api_key(&ann, "ak_x");
                let err = store.api_keys.create_api_key(scope, &again, &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                let mut orphan = api_key(&ann, "ak_orphan");
                orphan.user_id = UserId::new();
                let err = store.api_keys.create_api_key(scope, &orphan, &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                assert_eq!(store.api_keys.list_api_keys(scope, None, PageRequest::default()).await.unwrap().len(), 1);
            }

            #[::tokio::test]
            async fn touch_records_last_use_and_never_goes_back() {
                let (store, scope, ann, _bob) = store_with_users().await;
                let key = api_key(&ann, "ak_t");
                store.api_keys.create_api_key(scope, &key, &Effects::none()).await.unwrap();
                let later = now() + Duration::seconds(10);
                store.api_keys.touch_api_key(key.id, later).await.unwrap();
                store.api_keys.touch_api_key(key.id, later - Duration::seconds(5)).await.unwrap();
                store.api_keys.touch_api_key(ApiKeyId::new(), later).await.unwrap();
                let stored = store.api_keys.get_api_key(scope, key.id).await.unwrap().unwrap();
                assert_eq!(stored.last_used_at, Some(later));
            }
        }

        mod audit {
            use $crate::conformance::prelude::*;

            #[::tokio::test]
            async fn audit_lists_newest_first_with_older_than_paging_and_action_filter() {
                let store = super::__conformance_store().await;
                let org = org("acme");
                store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                let scope = OrgScope(org.id);
                let mut entries = Vec::new();
                for n in 0..5 {
                    let mut entry = audit(Some(org.id), if n % 2 == 0 { "login" } else { "login_failed" });
                    entry.actor_id = Some(UserId::new());
                    entry.details = serde_json::json!({ "n": n });
                    store.audit.append_audit(&entry).await.unwrap();
                    entries.push(entry);
                }
                store.audit.append_audit(&audit(None, "login_failed")).await.unwrap();
                entries.sort_by_key(|e| std::cmp::Reverse(e.id));

                assert_eq!(store.audit.list_audit(scope, None, PageRequest::default()).await.unwrap(), entries);
                let first = store.audit.list_audit(scope, None, PageRequest::first(2)).await.unwrap();
                assert_eq!(first, entries[..2]);
                let after = Some(first[1].id);
                let older = store.audit.list_audit(scope, None, PageRequest { limit: 10, after }).await.unwrap();
                assert_eq!(older, entries[2..]);
                let all = PageRequest::default();
                let failed = store.audit.list_audit(scope, Some("login_failed"), all).await.unwrap();
                let expected: Vec<AuditEntry> =
                    entries.iter().filter(|e| e.action == "login_failed").cloned().collect();
                assert_eq!(failed, expected);
                assert_eq!(failed.len(), 2, "the platform-level entry is in no organization's log");
            }
        }

        mod outbox {
            use $crate::conformance::prelude::*;

            #[::tokio::test]
            async fn events_round_trip_in_seq_order_and_are_marked_published() {
                let store = super::__conformance_store().await;
                let first = event(None, "a.happened");
                let mut second = event(Some(OrgId::new()), "b.happened");
                second.target_services = vec!["relaycore".to_owned()];
                second.version = "2.0".to_owned();
                let third = event(None, "c.happened").with_correlation(first.correlation_id, Some(first.event_id));
                store.outbox.append_events(&[first.clone(), second.clone()]).await.unwrap();
                store.outbox.append_events(std::slice::from_ref(&third)).await.unwrap();
                store.outbox.append_events(&[]).await.unwrap();

                let pending = store.outbox.fetch_unpublished(0, 10).await.unwrap();
                let events: Vec<SystemEvent> = pending.iter().map(|r| r.event.clone()).collect();
                assert_eq!(events, vec![first.clone(), second, third.clone()]);
                assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
                assert!(pending.iter().all(|r| r.published_at.is_none()));
                assert_eq!(store.outbox.fetch_unpublished(0, 2).await.unwrap().len(), 2);
                let tail = store.outbox.fetch_unpublished(pending[0].seq, 10).await.unwrap();
                assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [pending[1].seq, pending[2].seq]);

                let published_at = now();
                store.outbox.mark_published(&[pending[0].seq, pending[2].seq], published_at).await.unwrap();
                store.outbox.mark_published(&[pending[0].seq], published_at + Duration::seconds(1)).await.unwrap();
                store.outbox.mark_published(&[], published_at).await.unwrap();
                let still = store.outbox.fetch_unpublished(0, 10).await.unwrap();
                assert_eq!(still.iter().map(|r| r.seq).collect::<Vec<_>>(), [pending[1].seq]);

                let chain = store.outbox.events_by_correlation(first.correlation_id, 10).await.unwrap();
                assert_eq!(chain.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), vec![first, third]);
                assert_eq!(chain[0].published_at, Some(published_at), "first publication time kept");
                assert_eq!(store.outbox.events_by_correlation(Uuid::now_v7(), 10).await.unwrap(), vec![]);
            }

            #[::tokio::test]
            async fn a_batch_with_a_duplicate_event_is_all_or_nothing() {
                let store = super::__conformance_store().await;
                let first = event(None, "a.happened");
                store.outbox.append_events(std::slice::from_ref(&first)).await.unwrap();
                let fresh = event(None, "b.happened");
                let err = store.outbox.append_events(&[fresh, first]).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                assert_eq!(store.outbox.fetch_unpublished(0, 10).await.unwrap().len(), 1);
            }
        }
    };
}
