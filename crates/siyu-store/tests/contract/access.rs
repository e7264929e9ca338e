//! Workspaces, users, lock-out, sessions and API keys.

use crate::Fixture;
use siyu_domain::DomainError;
use siyu_domain::access::AccessError;
use siyu_domain::access::Role;
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Acceptance, LoginClient};

crate::contract!(
    workspace_slugs_are_unique,
    login_locks_after_five_failures,
    sessions_switch_only_to_own_workspaces,
    api_keys_authenticate_until_revoked,
    inviting_an_existing_user_from_another_workspace_never_touches_their_account,
    an_invitation_creates_an_account_only_with_the_invitees_own_password,
    revoked_invitations_accept_nothing,
    a_locked_account_still_lets_its_known_browser_in,
    an_address_that_keeps_failing_waits_whatever_account_it_tries,
    write_keys_need_a_role_that_may_send_events,
    cli_add_user_keeps_an_existing_password,
    the_last_owner_can_be_neither_demoted_nor_removed,
);

const NO_CLIENT: LoginClient<'static> = LoginClient { addr: None, device_token: None };

async fn workspace_slugs_are_unique(f: Fixture) {
    f.workspace("brand").await;
    let again = f.services.access.create_workspace(&NewWorkspace::parse("brand", None, None, None).unwrap()).await;
    assert!(matches!(again, Err(DomainError::Conflict(msg)) if msg.contains("brand")));
}

async fn login_locks_after_five_failures(f: Fixture) {
    let owner = f.workspace("brand").await;
    f.services.access.add_user(owner.workspace_id(), "Li@Brand.cn", "Li", "s3cret-pass", Role::Owner).await.unwrap();
    assert!(f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await.is_ok());
    for attempt in 1..=5 {
        let result = f.services.access.login("li@brand.cn", "wrong-pass", &NO_CLIENT).await;
        match attempt {
            5 => assert!(matches!(result, Err(DomainError::Access(AccessError::Locked(_)))), "attempt {attempt}"),
            _ => assert!(matches!(result, Err(DomainError::Unauthenticated(_))), "attempt {attempt}"),
        }
    }
    // Even the right password is refused while locked.
    assert!(matches!(
        f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await,
        Err(DomainError::Access(AccessError::Locked(_)))
    ));
}

async fn sessions_switch_only_to_own_workspaces(f: Fixture) {
    let a = f.workspace("brand-a").await;
    let b = f.workspace("brand-b").await;
    let c = f.workspace("brand-c").await;
    f.services.access.add_user(a.workspace_id(), "li@brand.cn", "Li", "s3cret-pass", Role::Analyst).await.unwrap();
    f.services.access.add_user(b.workspace_id(), "li@brand.cn", "Li", "s3cret-pass", Role::CsAgent).await.unwrap();
    let login = f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await.unwrap();
    let (_, _, principal, memberships) = f.services.access.session(&login.token).await.unwrap();
    assert_eq!((principal.workspace_id(), principal.role()), (a.workspace_id(), Role::Analyst));
    assert_eq!(memberships.len(), 2);
    f.services.access.switch_workspace(&login.token, b.workspace_id()).await.unwrap();
    let (_, _, principal, _) = f.services.access.session(&login.token).await.unwrap();
    assert_eq!((principal.workspace_id(), principal.role()), (b.workspace_id(), Role::CsAgent));
    assert!(f.services.access.switch_workspace(&login.token, c.workspace_id()).await.is_err());
    f.services.access.logout(&login.token).await.unwrap();
    assert!(f.services.access.session(&login.token).await.is_err());
}

async fn api_keys_authenticate_until_revoked(f: Fixture) {
    let owner = f.workspace("brand").await;
    let (key, token) = f.services.access.create_key(&owner, KeyKind::Secret, Role::Operator, "crm sync").await.unwrap();
    let (_, principal) = f.services.access.authenticate_key(&token, KeyKind::Secret).await.unwrap();
    assert_eq!((principal.workspace_id(), principal.role()), (owner.workspace_id(), Role::Operator));
    assert!(f.services.access.authenticate_key(&token, KeyKind::Write).await.is_err());
    let listed = f.services.access.keys(&owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    let other = f.workspace("other").await;
    assert!(f.services.access.revoke_key(&other, key.id).await.is_err(), "another workspace cannot revoke it");
    f.services.access.revoke_key(&owner, key.id).await.unwrap();
    assert!(f.services.access.authenticate_key(&token, KeyKind::Secret).await.is_err());
}

async fn inviting_an_existing_user_from_another_workspace_never_touches_their_account(f: Fixture) {
    let a = f.workspace("brand-a").await;
    let b = f.workspace("brand-b").await;
    f.services
        .access
        .add_user(a.workspace_id(), "victim@brand.cn", "Victim", "victim-pass", Role::Owner)
        .await
        .unwrap();
    f.services
        .access
        .add_user(b.workspace_id(), "attacker@evil.cn", "Mallory", "attacker-pass", Role::Owner)
        .await
        .unwrap();
    let attacker = f.services.access.login("attacker@evil.cn", "attacker-pass", &NO_CLIENT).await.unwrap();
    let (_, _, attacker_b, _) = f.services.access.session(&attacker.token).await.unwrap();

    let invited = f.services.access.invite_user(&attacker_b, "Victim@Brand.cn", "analyst").await.unwrap();
    assert_eq!(invited.invitation.email, "victim@brand.cn");
    // The victim's own password still works, and still only leads into their own workspace.
    let victim = f.services.access.login("victim@brand.cn", "victim-pass", &NO_CLIENT).await.unwrap();
    let (_, _, principal, memberships) = f.services.access.session(&victim.token).await.unwrap();
    assert_eq!((principal.workspace_id(), principal.role(), memberships.len()), (a.workspace_id(), Role::Owner, 1));

    // The attacker holds the link, but cannot accept it as the victim in any way.
    let as_new = Acceptance::NewAccount { name: "x", password: "chosen-by-attacker" };
    assert!(matches!(f.services.access.accept_invitation(&invited.token, as_new).await, Err(DomainError::Conflict(_))));
    let guessed = Acceptance::Password { password: "chosen-by-attacker", client: NO_CLIENT };
    assert!(matches!(
        f.services.access.accept_invitation(&invited.token, guessed).await,
        Err(DomainError::Unauthenticated(_))
    ));
    let signed_in = Acceptance::SignedIn { session_token: &attacker.token };
    assert!(matches!(
        f.services.access.accept_invitation(&invited.token, signed_in).await,
        Err(DomainError::Conflict(_))
    ));
    assert!(f.services.access.login("victim@brand.cn", "chosen-by-attacker", &NO_CLIENT).await.is_err());

    // The victim accepts while signed in: they join B with the invited role; A is untouched.
    let accepted = Acceptance::SignedIn { session_token: &victim.token };
    let session = f.services.access.accept_invitation(&invited.token, accepted).await.unwrap();
    let (_, _, principal, memberships) = f.services.access.session(&session.token).await.unwrap();
    assert_eq!((principal.workspace_id(), principal.role(), memberships.len()), (b.workspace_id(), Role::Analyst, 2));
    assert!(memberships.iter().any(|m| m.workspace_id == a.workspace_id() && m.role == Role::Owner));
    // The link is spent.
    let again = Acceptance::SignedIn { session_token: &victim.token };
    assert!(matches!(f.services.access.accept_invitation(&invited.token, again).await, Err(DomainError::NotFound(_))));
    // A member cannot be invited again (roles change through set_role, by the workspace's owners).
    assert!(matches!(
        f.services.access.invite_user(&attacker_b, "victim@brand.cn", "owner").await,
        Err(DomainError::Conflict(_))
    ));
}

async fn an_invitation_creates_an_account_only_with_the_invitees_own_password(f: Fixture) {
    let owner = f.workspace("brand").await;
    let invited = f.services.access.invite_user(&owner, "new@brand.cn", "operator").await.unwrap();
    let (found, exists) = f.services.access.invitation(&invited.token).await.unwrap();
    assert_eq!((found.role, exists), (Role::Operator, false));
    let short = Acceptance::NewAccount { name: "New", password: "short" };
    assert!(matches!(f.services.access.accept_invitation(&invited.token, short).await, Err(DomainError::Invalid(_))));
    let good = Acceptance::NewAccount { name: "New", password: "my-own-pass" };
    let session = f.services.access.accept_invitation(&invited.token, good).await.unwrap();
    assert_eq!(session.session.workspace_id, owner.workspace_id());
    assert!(f.services.access.login("new@brand.cn", "my-own-pass", &NO_CLIENT).await.is_ok());
    let members = f.services.access.members(&owner).await.unwrap();
    assert!(members.iter().any(|m| m.email == "new@brand.cn" && m.role == Role::Operator));
    assert!(f.services.access.invitations(&owner).await.unwrap().is_empty(), "accepted invitations are not pending");
}

async fn revoked_invitations_accept_nothing(f: Fixture) {
    let owner = f.workspace("brand").await;
    let other = f.workspace("other").await;
    let invited = f.services.access.invite_user(&owner, "new@brand.cn", "analyst").await.unwrap();
    assert_eq!(f.services.access.invitations(&owner).await.unwrap().len(), 1);
    assert!(f.services.access.invitations(&other).await.unwrap().is_empty());
    assert!(
        f.services.access.revoke_invitation(&other, invited.invitation.id).await.is_err(),
        "not another workspace's"
    );
    f.services.access.revoke_invitation(&owner, invited.invitation.id).await.unwrap();
    let accept = Acceptance::NewAccount { name: "New", password: "my-own-pass" };
    assert!(matches!(f.services.access.accept_invitation(&invited.token, accept).await, Err(DomainError::NotFound(_))));
    let analyst =
        siyu_domain::access::Principal::key(owner.workspace_id(), Role::Analyst, siyu_core::ApiKeyId(1), "sk_test");
    assert!(matches!(
        f.services.access.invite_user(&analyst, "x@brand.cn", "owner").await,
        Err(DomainError::Forbidden(_))
    ));
    let bad = f.services.access.invite_user(&owner, "not an email", "boss").await;
    assert!(matches!(bad, Err(DomainError::Invalid(errors)) if errors.len() == 2), "every bad field is named");
}

async fn a_locked_account_still_lets_its_known_browser_in(f: Fixture) {
    let owner = f.workspace("brand").await;
    f.services.access.add_user(owner.workspace_id(), "li@brand.cn", "Li", "s3cret-pass", Role::Owner).await.unwrap();
    let first = f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await.unwrap();
    let device = first.device_token.expect("a password login names the browser");
    // Someone elsewhere locks the account by guessing.
    let attacker = LoginClient { addr: Some("198.51.100.7".parse().unwrap()), device_token: None };
    for _ in 0..5 {
        assert!(f.services.access.login("li@brand.cn", "guess", &attacker).await.is_err());
    }
    assert!(matches!(
        f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await,
        Err(DomainError::Access(AccessError::Locked(_)))
    ));
    // The owner's known browser gets in, which lifts the lock.
    let known = LoginClient { addr: Some("203.0.113.5".parse().unwrap()), device_token: Some(&device) };
    f.services.access.login("li@brand.cn", "s3cret-pass", &known).await.unwrap();
    assert!(f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await.is_ok());
    // A forged device token is just an unknown browser.
    let forged = LoginClient { addr: None, device_token: Some("00") };
    for _ in 0..5 {
        let _ = f.services.access.login("li@brand.cn", "guess", &forged).await;
    }
    assert!(matches!(
        f.services.access.login("li@brand.cn", "s3cret-pass", &forged).await,
        Err(DomainError::Access(AccessError::Locked(_)))
    ));
}

async fn an_address_that_keeps_failing_waits_whatever_account_it_tries(f: Fixture) {
    let owner = f.workspace("brand").await;
    f.services.access.add_user(owner.workspace_id(), "li@brand.cn", "Li", "s3cret-pass", Role::Owner).await.unwrap();
    let attacker = LoginClient { addr: Some("198.51.100.7".parse().unwrap()), device_token: None };
    for i in 0..5 {
        let result = f.services.access.login(&format!("guess{i}@brand.cn"), "guess", &attacker).await;
        assert!(matches!(result, Err(DomainError::Unauthenticated(_))));
    }
    // Now the address waits, even with a right password for another account.
    let held = f.services.access.login("li@brand.cn", "s3cret-pass", &attacker).await;
    assert!(matches!(held, Err(DomainError::Access(AccessError::Throttled(_)))));
    // Other addresses, and the account itself, are unaffected.
    let elsewhere = LoginClient { addr: Some("203.0.113.5".parse().unwrap()), device_token: None };
    assert!(f.services.access.login("li@brand.cn", "s3cret-pass", &elsewhere).await.is_ok());
}

async fn write_keys_need_a_role_that_may_send_events(f: Fixture) {
    let owner = f.workspace("brand").await;
    for role in [Role::Analyst, Role::CsAgent, Role::Auditor] {
        let refused = f.services.access.create_key(&owner, KeyKind::Write, role, "site").await;
        assert!(matches!(refused, Err(DomainError::Invalid(e)) if e[0].field == "role"), "{role:?}");
    }
    for role in [Role::Owner, Role::Operator] {
        f.services.access.create_key(&owner, KeyKind::Write, role, "site").await.unwrap();
    }
    assert!(f.services.access.create_key(&owner, KeyKind::Secret, Role::Auditor, "audit").await.is_ok());
}

async fn cli_add_user_keeps_an_existing_password(f: Fixture) {
    let a = f.workspace("brand-a").await;
    let b = f.workspace("brand-b").await;
    f.services.access.add_user(a.workspace_id(), "li@brand.cn", "Li", "s3cret-pass", Role::Owner).await.unwrap();
    f.services.access.add_user(b.workspace_id(), "li@brand.cn", "Li", "other-pass", Role::Analyst).await.unwrap();
    assert!(f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await.is_ok());
    assert!(f.services.access.login("li@brand.cn", "other-pass", &NO_CLIENT).await.is_err());
    // The server's operator can reset it, which ends the account's sessions.
    let before = f.services.access.login("li@brand.cn", "s3cret-pass", &NO_CLIENT).await.unwrap();
    f.services.access.reset_password("li@brand.cn", "other-pass").await.unwrap();
    assert!(f.services.access.session(&before.token).await.is_err());
    assert!(f.services.access.login("li@brand.cn", "other-pass", &NO_CLIENT).await.is_ok());
}

async fn the_last_owner_can_be_neither_demoted_nor_removed(f: Fixture) {
    let owner = f.workspace("brand").await;
    let li = f
        .services
        .access
        .add_user(owner.workspace_id(), "li@brand.cn", "Li", "s3cret-pass", Role::Owner)
        .await
        .unwrap();
    let wang = f
        .services
        .access
        .add_user(owner.workspace_id(), "wang@brand.cn", "Wang", "s3cret-pass", Role::Analyst)
        .await
        .unwrap();
    assert!(matches!(f.services.access.set_role(&owner, li, Role::Analyst).await, Err(DomainError::Conflict(_))));
    assert!(matches!(f.services.access.remove_member(&owner, li).await, Err(DomainError::Conflict(_))));
    f.services.access.set_role(&owner, wang, Role::Owner).await.unwrap();
    f.services.access.set_role(&owner, li, Role::Analyst).await.unwrap();
    let other = f.workspace("other").await;
    assert!(f.services.access.set_role(&other, wang, Role::Auditor).await.is_err(), "not a member there");
}
