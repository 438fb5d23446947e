//! Conformance tests of `OrgRepo`: organizations, teams and team members.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_orgs {
    () => {
        mod orgs {
            use $crate::conformance::prelude::*;

            async fn store() -> Store {
                super::__conformance_store().await
            }

            #[::tokio::test]
            async fn create_then_get_by_id_and_slug() {
                let store = store().await;
                let org = org("north-star");
                store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                assert_eq!(store.orgs.get_org(org.id).await.unwrap(), Some(org.clone()));
                assert_eq!(store.orgs.get_org_by_slug("north-star").await.unwrap(), Some(org));
                assert_eq!(store.orgs.get_org(OrgId::new()).await.unwrap(), None);
                assert_eq!(store.orgs.get_org_by_slug("nope").await.unwrap(), None);
                assert_eq!(store.orgs.count_orgs().await.unwrap(), 1);
            }

            #[::tokio::test]
            async fn taken_slug_is_a_conflict_and_writes_nothing() {
                let store = store().await;
                store.orgs.create_org(&org("dup"), &Effects::none()).await.unwrap();
                let effects = Effects::none().event(event(None, "org.created")).audit(audit(None, "org.created"));
                let err = store.orgs.create_org(&org("dup"), &effects).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                assert_eq!(store.orgs.count_orgs().await.unwrap(), 1);
                assert!(store.outbox.fetch_unpublished(0, 100).await.unwrap().is_empty());
            }

            #[::tokio::test]
            async fn create_org_writes_its_effects() {
                let store = store().await;
                let org = org("fx");
                let event = event(Some(org.id), "org.created");
                let entry = audit(Some(org.id), "org.created");
                let effects = Effects::none().event(event.clone()).audit(entry.clone());
                store.orgs.create_org(&org, &effects).await.unwrap();
                let outbox = store.outbox.fetch_unpublished(0, 100).await.unwrap();
                assert_eq!(outbox.len(), 1);
                assert_eq!(outbox[0].event, event);
                let audit = store.audit.list_audit(OrgScope(org.id), None, PageRequest::default()).await.unwrap();
                assert_eq!(audit, vec![entry]);
            }

            #[::tokio::test]
            async fn list_orgs_pages_by_id() {
                let store = store().await;
                let mut ids = Vec::new();
                for n in 0..5 {
                    let org = org(&format!("org-{n}"));
                    store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                    ids.push(org.id);
                }
                ids.sort();
                let first = store.orgs.list_orgs(PageRequest::first(2)).await.unwrap();
                assert_eq!(first.iter().map(|o| o.id).collect::<Vec<_>>(), ids[..2]);
                let after = Some(first[1].id.0);
                let second = store.orgs.list_orgs(PageRequest { limit: 2, after }).await.unwrap();
                assert_eq!(second.iter().map(|o| o.id).collect::<Vec<_>>(), ids[2..4]);
                let after = Some(second[1].id.0);
                let last = store.orgs.list_orgs(PageRequest { limit: 2, after }).await.unwrap();
                assert_eq!(last.iter().map(|o| o.id).collect::<Vec<_>>(), ids[4..]);
                let after = Some(last[0].id.0);
                assert!(store.orgs.list_orgs(PageRequest { limit: 2, after }).await.unwrap().is_empty());
                assert_eq!(store.orgs.count_orgs().await.unwrap(), 5);
            }

            #[::tokio::test]
            async fn ids_sort_bytewise_like_uuid_ord() {
                // Keyset pagination relies on the database ordering UUIDs the way `Uuid: Ord` does
                // (bytewise). Ids that differ only in a high byte (>= 0x80) catch signed compares.
                let store = store().await;
                let mut ids = Vec::new();
                for (n, first_byte) in [0x00_u8, 0x7f, 0x80, 0xff, 0x01].into_iter().enumerate() {
                    let mut bytes = *Uuid::now_v7().as_bytes();
                    bytes[0] = first_byte;
                    let mut org = org(&format!("bytes-{n}"));
                    org.id = OrgId(Uuid::from_bytes(bytes));
                    store.orgs.create_org(&org, &Effects::none()).await.unwrap();
                    ids.push(org.id);
                }
                ids.sort();
                let listed = store.orgs.list_orgs(PageRequest::first(10)).await.unwrap();
                assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), ids);
            }

            #[::tokio::test]
            async fn teams_are_created_listed_and_unique_per_org() {
                let store = store().await;
                let (a, b) = (org("a"), org("b"));
                store.orgs.create_org(&a, &Effects::none()).await.unwrap();
                store.orgs.create_org(&b, &Effects::none()).await.unwrap();
                let sales = team(a.id, "Sales");
                let service = team(a.id, "Service");
                store.orgs.create_team(OrgScope(a.id), &sales, &Effects::none()).await.unwrap();
                store.orgs.create_team(OrgScope(a.id), &service, &Effects::none()).await.unwrap();
                // The same name in another organization is fine; in the same one it is a conflict.
                store.orgs.create_team(OrgScope(b.id), &team(b.id, "Sales"), &Effects::none()).await.unwrap();
                let err =
                    store.orgs.create_team(OrgScope(a.id), &team(a.id, "Sales"), &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

                let mut expected = vec![sales.clone(), service.clone()];
                expected.sort_by_key(|t| t.id);
                let listed = store.orgs.list_teams(OrgScope(a.id), PageRequest::default()).await.unwrap();
                assert_eq!(listed, expected);
                let page = store.orgs.list_teams(OrgScope(a.id), PageRequest::first(1)).await.unwrap();
                assert_eq!(page, expected[..1]);
                let after = Some(expected[0].id.0);
                let page = store.orgs.list_teams(OrgScope(a.id), PageRequest { limit: 5, after }).await.unwrap();
                assert_eq!(page, expected[1..]);
            }

            #[::tokio::test]
            async fn team_in_missing_or_other_org_is_refused() {
                let store = store().await;
                let a = org("a");
                store.orgs.create_org(&a, &Effects::none()).await.unwrap();
                let ghost = OrgId::new();
                let err =
                    store.orgs.create_team(OrgScope(ghost), &team(ghost, "x"), &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let err =
                    store.orgs.create_team(OrgScope(a.id), &team(ghost, "x"), &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                assert!(store.orgs.list_teams(OrgScope(a.id), PageRequest::default()).await.unwrap().is_empty());
            }

            #[::tokio::test]
            async fn team_members_are_added_listed_and_removed() {
                let store = store().await;
                let a = org("a");
                store.orgs.create_org(&a, &Effects::none()).await.unwrap();
                let scope = OrgScope(a.id);
                let (ann, bob) = (user(a.id, "ann"), user(a.id, "bob"));
                store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
                store.users.create_user(scope, &bob, &[], &Effects::none()).await.unwrap();
                let (sales, service) = (team(a.id, "Sales"), team(a.id, "Service"));
                store.orgs.create_team(scope, &sales, &Effects::none()).await.unwrap();
                store.orgs.create_team(scope, &service, &Effects::none()).await.unwrap();

                assert!(store.orgs.add_team_member(scope, sales.id, ann.id).await.unwrap());
                assert!(store.orgs.add_team_member(scope, sales.id, ann.id).await.unwrap(), "idempotent");
                assert!(store.orgs.add_team_member(scope, sales.id, bob.id).await.unwrap());
                assert!(store.orgs.add_team_member(scope, service.id, ann.id).await.unwrap());
                assert!(!store.orgs.add_team_member(scope, TeamId::new(), ann.id).await.unwrap());
                assert!(!store.orgs.add_team_member(scope, sales.id, UserId::new()).await.unwrap());

                let mut members = vec![ann.id, bob.id];
                members.sort();
                assert_eq!(store.orgs.list_team_members(scope, sales.id).await.unwrap(), members);
                let mut teams = vec![sales.id, service.id];
                teams.sort();
                assert_eq!(store.orgs.list_user_teams(scope, ann.id).await.unwrap(), teams);

                assert!(store.orgs.remove_team_member(scope, sales.id, ann.id).await.unwrap());
                assert!(!store.orgs.remove_team_member(scope, sales.id, ann.id).await.unwrap());
                assert_eq!(store.orgs.list_team_members(scope, sales.id).await.unwrap(), vec![bob.id]);
                assert_eq!(store.orgs.list_user_teams(scope, ann.id).await.unwrap(), vec![service.id]);
            }
        }
    };
}
