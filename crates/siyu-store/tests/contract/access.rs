//! Workspaces, users, lock-out, sessions and API keys.

use crate::Fixture;
use siyu_domain::DomainError;
use siyu_domain::access::Role;
use siyu_domain::api_keys::KeyKind;
use siyu_domain::workspaces::NewWorkspace;

crate::contract!(
    workspace_slugs_are_unique,
    login_locks_after_five_failures,
    sessions_switch_only_to_own_workspaces,
    api_keys_authenticate_until_revoked
);

async fn workspace_slugs_are_unique(f: Fixture) {
    f.workspace("brand").await;
    let again = f.services.create_workspace(&NewWorkspace::parse("brand", None, None, None).unwrap()).await;
    assert!(matches!(again, Err(DomainError::Conflict(msg)) if msg.contains("brand")));
}

async fn login_locks_after_five_failures(f: Fixture) {
    let owner = f.workspace("brand").await;
    f.services.add_user(owner.workspace_id, "Li@Brand.cn", "Li", "s3cret-pass", Role::Owner).await.unwrap();
    assert!(f.services.login("li@brand.cn", "s3cret-pass").await.is_ok());
    for attempt in 1..=5 {
        let result = f.services.login("li@brand.cn", "wrong-pass").await;
        match attempt {
            5 => assert!(matches!(result, Err(DomainError::Locked(_))), "attempt {attempt}"),
            _ => assert!(matches!(result, Err(DomainError::Unauthenticated(_))), "attempt {attempt}"),
        }
    }
    // Even the right password is refused while locked.
    assert!(matches!(f.services.login("li@brand.cn", "s3cret-pass").await, Err(DomainError::Locked(_))));
}

async fn sessions_switch_only_to_own_workspaces(f: Fixture) {
    let a = f.workspace("brand-a").await;
    let b = f.workspace("brand-b").await;
    let c = f.workspace("brand-c").await;
    f.services.add_user(a.workspace_id, "li@brand.cn", "Li", "s3cret-pass", Role::Analyst).await.unwrap();
    f.services.add_user(b.workspace_id, "li@brand.cn", "Li", "s3cret-pass", Role::CsAgent).await.unwrap();
    let login = f.services.login("li@brand.cn", "s3cret-pass").await.unwrap();
    let (_, _, principal, memberships) = f.services.session(&login.token).await.unwrap();
    assert_eq!((principal.workspace_id, principal.role), (a.workspace_id, Role::Analyst));
    assert_eq!(memberships.len(), 2);
    f.services.switch_workspace(&login.token, b.workspace_id).await.unwrap();
    let (_, _, principal, _) = f.services.session(&login.token).await.unwrap();
    assert_eq!((principal.workspace_id, principal.role), (b.workspace_id, Role::CsAgent));
    assert!(f.services.switch_workspace(&login.token, c.workspace_id).await.is_err());
    f.services.logout(&login.token).await.unwrap();
    assert!(f.services.session(&login.token).await.is_err());
}

async fn api_keys_authenticate_until_revoked(f: Fixture) {
    let owner = f.workspace("brand").await;
    let (key, token) = f.services.create_key(&owner, KeyKind::Secret, Role::Operator, "crm sync").await.unwrap();
    let (_, principal) = f.services.authenticate_key(&token, KeyKind::Secret).await.unwrap();
    assert_eq!((principal.workspace_id, principal.role), (owner.workspace_id, Role::Operator));
    assert!(f.services.authenticate_key(&token, KeyKind::Write).await.is_err());
    let listed = f.services.keys(&owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    let other = f.workspace("other").await;
    assert!(f.services.revoke_key(&other, key.id).await.is_err(), "another workspace cannot revoke it");
    f.services.revoke_key(&owner, key.id).await.unwrap();
    assert!(f.services.authenticate_key(&token, KeyKind::Secret).await.is_err());
}
