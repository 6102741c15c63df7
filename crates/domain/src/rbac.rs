//! Role-based access control: one table of what each role may do, and the ownership rule.
//! Pure functions; the HTTP layer asks them before every use case runs.

use crate::ids::{AccountId, SessionId, UserId};
use crate::users::Role;

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read one's own profile, account, orders, positions and activities.
    ReadOwn,
    /// Place, replace and cancel orders on one's own account.
    Trade,
    /// Deposit to and withdraw from one's own account.
    MoveFunds,
    /// Read every customer's users, accounts and orders (support and admin).
    ReadAll,
    /// Change users' roles and statuses, halt symbols.
    Administer,
}

/// The single table of who may do what.
pub const fn permissions_of(role: Role) -> &'static [Permission] {
    use Permission::*;
    match role {
        Role::Customer => &[ReadOwn, Trade, MoveFunds],
        Role::Support => &[ReadOwn, ReadAll],
        Role::Admin => &[ReadOwn, Trade, MoveFunds, ReadAll, Administer],
    }
}

/// What an API key may do, on top of its owner's role (never beyond it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ApiScopes {
    pub read: bool,
    pub trade: bool,
    pub funds: bool,
}

impl ApiScopes {
    pub const NAMES: [&'static str; 3] = ["read", "trade", "funds"];

    /// Scopes from their names; `None` for an unknown name.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut scopes = Self::default();
        for name in names {
            match name {
                "read" => scopes.read = true,
                "trade" => scopes.trade = true,
                "funds" => scopes.funds = true,
                _ => return None,
            }
        }
        Some(scopes)
    }

    pub fn names(&self) -> Vec<&'static str> {
        [(self.read, "read"), (self.trade, "trade"), (self.funds, "funds")]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n)
            .collect()
    }

    /// Keys only ever read, trade and move funds of their owner's account.
    pub const fn allows(&self, permission: Permission) -> bool {
        match permission {
            Permission::ReadOwn => self.read,
            Permission::Trade => self.trade,
            Permission::MoveFunds => self.funds,
            Permission::ReadAll | Permission::Administer => false,
        }
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a login session (refused once the session ends).
    Session(SessionId),
    /// A signed request with an API key of these scopes.
    ApiKey(ApiScopes),
}

/// The authenticated caller of a use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub role: Role,
    pub credential: Credential,
}

/// The caller lacks a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the caller's role does not allow this")]
pub struct Forbidden;

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        let by_credential = match self.credential {
            Credential::Session(_) => true,
            Credential::ApiKey(scopes) => scopes.allows(permission),
        };
        by_credential && permissions_of(self.role).contains(&permission)
    }

    /// The login session behind the call, if it came with an access token.
    pub fn session(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiKey(_) => None,
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        if self.can(permission) { Ok(()) } else { Err(Forbidden) }
    }

    /// Ownership rule for reads: one's own account, or any account with `ReadAll`.
    /// A caller who may not see a resource must be told it does not exist (404), so this
    /// answers a bool and the caller turns `false` into `NotFound`.
    pub fn may_read(&self, owner: AccountId) -> bool {
        self.account_id == owner || self.can(Permission::ReadAll)
    }
}

impl Principal {
    /// A caller with a fresh session, for tests of services and adapters.
    #[cfg(any(test, feature = "mock"))]
    pub fn for_tests(role: Role) -> Self {
        Self {
            user_id: UserId::from_uuid(uuid::Uuid::now_v7()),
            account_id: AccountId::from_uuid(uuid::Uuid::now_v7()),
            role,
            credential: Credential::Session(SessionId::from_uuid(uuid::Uuid::now_v7())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn principal(role: Role) -> Principal {
        Principal::for_tests(role)
    }

    #[test]
    fn api_keys_never_exceed_their_scopes_or_their_owners_role() {
        let mut p = principal(Role::Admin);
        p.credential = Credential::ApiKey(ApiScopes::parse(["read", "trade"]).expect("known scopes"));
        assert!(p.can(Permission::ReadOwn) && p.can(Permission::Trade));
        assert!(!p.can(Permission::MoveFunds), "no funds scope");
        assert!(!p.can(Permission::Administer) && !p.can(Permission::ReadAll), "keys never administer");
        let mut support = principal(Role::Support);
        support.credential = Credential::ApiKey(ApiScopes::parse(["trade"]).expect("known"));
        assert!(!support.can(Permission::Trade), "the role still limits the key");
        assert_eq!(ApiScopes::parse(["read", "root"]), None);
    }

    #[test]
    fn customers_trade_and_move_funds_but_cannot_read_others() {
        let p = principal(Role::Customer);
        assert!(p.can(Permission::Trade) && p.can(Permission::MoveFunds));
        assert!(!p.can(Permission::ReadAll) && !p.can(Permission::Administer));
        assert!(p.may_read(p.account_id));
        assert!(!p.may_read(AccountId::from_uuid(Uuid::now_v7())));
    }

    #[test]
    fn support_reads_everything_and_changes_nothing() {
        let p = principal(Role::Support);
        assert!(p.may_read(AccountId::from_uuid(Uuid::now_v7())));
        assert_eq!(p.require(Permission::Trade), Err(Forbidden));
        assert_eq!(p.require(Permission::MoveFunds), Err(Forbidden));
        assert_eq!(p.require(Permission::Administer), Err(Forbidden));
    }

    #[test]
    fn admin_may_do_everything() {
        let p = principal(Role::Admin);
        for perm in
            [Permission::ReadOwn, Permission::Trade, Permission::MoveFunds, Permission::ReadAll, Permission::Administer]
        {
            assert!(p.can(perm), "{perm:?}");
        }
    }
}
